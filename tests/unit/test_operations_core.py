"""The operating pieces that need no services: change reports, cutover decisions, runner and
limit settings, deployment defaults."""

from __future__ import annotations

import pytest

from acr_migrate.azure.delete import ArmRegistryDeleter
from acr_migrate.changes import diff_manifests
from acr_migrate.deletion import (
    METHOD_ARM,
    DeletionPlan,
    RepositoryContent,
    deletion_refusal,
    repositories_of,
)
from acr_migrate.models import ConfigError, ImageRow, RegistryEndpoint
from acr_migrate.registry import open_registry
from acr_migrate.report import deletion_markdown
from acr_migrate.settings import MigrationConfig
from acr_migrate.storage import StorageSettings
from acr_migrate.validate import validation_verdict
from deployments.variables import variable_values
from flows.approvals import is_approved
from flows.runners import RunnerKind, TaskRunnerSettings, make_task_runner
from tasks.limits import limit_name

D1, D2, D3 = ("sha256:" + c * 64 for c in "123")


def row(repo: str, tag: str, digest: str) -> ImageRow:
    return ImageRow(
        source_registry="src.example", repository=repo, tag=tag, digest=digest,
        media_type="application/vnd.oci.image.manifest.v1+json", size_bytes=1,
    )  # fmt: skip


def test_changes_report_new_moved_deleted_and_unchanged_tags() -> None:
    old = [row("app", "1", D1), row("app", "2", D1), row("app", "3", D2), row("lib", "", D3)]
    new = [row("app", "1", D1), row("app", "2", D2), row("app", "4", D2)]
    changes = diff_manifests(old, new, previous_blob="src/1/manifest.csv")
    assert changes.counts() == {"new": 1, "moved": 1, "deleted": 2, "unchanged": 1}
    assert [c.ref for c in changes.moved] == ["app:2"]
    assert {c.ref for c in changes.deleted} == {"app:3", "lib@" + "3" * 12}
    text = changes.markdown()
    assert "`app:4`" in text and "Moved (1)" in text and "src/1/manifest.csv" in text
    assert not diff_manifests(new, new, previous_blob="x").changed
    assert "No previous manifest" in diff_manifests([], new).markdown()


def test_validation_verdict_needs_every_row_ok() -> None:
    header = "repository,tag,expected_digest,found_digest,check\n"
    good = header + f"app,1,{D1},{D1},ok\napp,2,{D2},,excluded\n"
    bad = good + f"app,3,{D3},,missing\n"
    assert validation_verdict("v.csv", good.encode()).ok
    verdict = validation_verdict("v.csv", bad.encode())
    assert not verdict.ok and verdict.counts["missing"] == 1
    assert "missing: 1" in verdict.describe()
    with pytest.raises(ValueError, match="not a validation report"):
        validation_verdict("x.csv", b"a,b\n1,2\n")


def test_an_approval_needs_the_tick_and_the_registry_name() -> None:
    assert is_approved(True, "contoso-prod", "contoso-prod") == (True, "approved")
    assert not is_approved(False, "contoso-prod", "contoso-prod")[0]
    ok, why = is_approved(True, "contoso", "contoso-prod")
    assert not ok and "not 'contoso-prod'" in why


def test_repositories_to_delete_come_from_the_manifest_filtered() -> None:
    rows = [row("team-a/app", "1", D1), row("team-b/app", "1", D2), row("team-a/lib", "", D3)]
    assert repositories_of(rows, [], []) == ["team-a/app", "team-a/lib", "team-b/app"]
    assert repositories_of(rows, ["team-a/*"], ["*/lib"]) == ["team-a/app"]


def test_the_arm_plan_is_the_whole_registry_and_names_what_was_not_migrated() -> None:
    endpoint = RegistryEndpoint(name="src", url="https://src.example")
    rows = [row("app", "1", D1), row("app", "2", D1), row("extra", "1", D2)]
    removed: list[str] = []
    deleter = ArmRegistryDeleter(endpoint, lambda: rows, remove=lambda: removed.append("src"))
    plan = deleter.plan(["app"])
    assert plan.method == METHOD_ARM and plan.counts() == {
        "repositories": 2,
        "manifests": 2,
        "tags": 3,
    }
    assert plan.outside == ["extra"] and "were not migrated" in deletion_markdown(plan)
    assert deleter.plan(["app", "extra"]).outside == []
    assert "ARM delete" in deletion_markdown(plan)
    deleter.delete(plan)
    assert removed == ["src"]


def test_an_oci_registry_is_deleted_manifest_by_manifest_and_has_no_arm_side() -> None:
    registry = open_registry(RegistryEndpoint(name="src", url="https://src.example"))
    deleter = registry.deleter()
    try:
        assert deleter.method == "oci-manifests"
    finally:
        deleter.close()
    with pytest.raises(ConfigError, match=r"no \[azure\] section .* which creating a registry"):
        registry.provision({}, dry_run=True)
    assert registry.document() == (None, [])


def test_the_source_is_kept_unless_validated_and_nothing_unmigrated_goes_with_it() -> None:
    plan = DeletionPlan(source="s", name="s", method=METHOD_ARM, outside=["extra"])
    assert "not validated (no report)" in deletion_refusal(plan, False, "no report", True)
    assert "1 repositories that were not migrated (extra)" in deletion_refusal(
        plan, True, "ok", True
    )
    clean = plan.model_copy(update={"outside": []})
    assert deletion_refusal(clean, True, "ok", True) == ""
    assert deletion_refusal(clean, False, "no report", required=False) == ""


def test_deletion_plan_markdown_lists_what_goes() -> None:
    plan = DeletionPlan(
        source="src.example",
        name="src",
        method="oci-manifests",
        repositories=[RepositoryContent(repository="app", tags=["1", "2"], digests=[D1])],
    )
    text = deletion_markdown(plan)
    assert "1 repositories, 1 manifests, 2 tags" in text and "| `app` | 2 | 1 |" in text
    assert not plan.empty


def test_task_runner_choice_by_parameter_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACR_MIGRATE_TASK_RUNNER", raising=False)
    assert TaskRunnerSettings().resolved_kind() is RunnerKind.THREADS
    monkeypatch.setenv("ACR_MIGRATE_TASK_RUNNER", "dask")
    monkeypatch.setenv("ACR_MIGRATE_DASK_ADDRESS", "tcp://scheduler:8786")
    settings = TaskRunnerSettings()
    assert (
        settings.resolved_kind() is RunnerKind.DASK and settings.address() == "tcp://scheduler:8786"
    )
    assert type(make_task_runner(settings, 8)).__name__ == "DaskTaskRunner"
    assert TaskRunnerSettings(kind=RunnerKind.THREADS).resolved_kind() is RunnerKind.THREADS
    assert TaskRunnerSettings().in_flight(8) == 16
    assert TaskRunnerSettings(headroom=1.0).in_flight(1000) == 256
    runner = make_task_runner(TaskRunnerSettings(kind=RunnerKind.THREADS), 3)
    assert runner._max_workers == 6


def test_limit_name_follows_the_target_registry() -> None:
    endpoint = RegistryEndpoint(name="Contoso New_Prod", url="https://x.example")
    assert limit_name(endpoint) == "acr-import-contoso-new-prod"


def test_deployment_defaults_name_secrets_but_never_hold_them() -> None:
    config = MigrationConfig(
        source=RegistryEndpoint(name="s", url="https://s.example", password_env="S_PW"),
        target=RegistryEndpoint(name="t", url="https://t.example", password_env="T_PW"),
        storage=StorageSettings(connection_string_env="CONN"),
    )
    values = variable_values(config)
    assert set(values) == {"acr_migrate_source", "acr_migrate_target", "acr_migrate_storage"}
    assert values["acr_migrate_source"] == {
        "name": "s",
        "url": "https://s.example",
        "password_env": "S_PW",
    }
    assert values["acr_migrate_storage"]["connection_string_env"] == "CONN"
