"""The project as operators run it: a real ``prefect server start`` (SQLite, loopback),
``prefect deploy --all`` from ``prefect.yaml``, a process worker per tenant work pool, runs
started through the API the way the UI's Run button starts them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)

from acr_migrate.oci.client import RegistryClient
from sandbox import api
from tests.e2e.conftest import REPO, Deployed, FinishedImport

pytestmark = [pytest.mark.e2e]

EXPECTED = {
    "source-export/source-export": "source-tenant",
    "target-import/target-import": "target-tenant",
    "target-import/target-import-dask": "target-tenant",
    "validate/validate": "target-tenant",
    "provision-target/provision-target": "target-tenant",
    "delete-source/delete-source": "source-tenant",
    "freeze-source/freeze-source": "source-tenant",
    "unfreeze-source/unfreeze-source": "source-tenant",
    "reconnect-rbac/reconnect-rbac": "target-tenant",
    "revoke-access/revoke-source-access": "source-tenant",
    "revoke-access/revoke-target-access": "target-tenant",
    "final-test/final-test": "target-tenant",
    "migrate-registry/migrate-registry": "target-tenant",
    "reconnect-aks/reconnect-aks": "target-tenant",
    "grant-pull-token/grant-pull-token": "source-tenant",
    "revoke-pull-token/revoke-pull-token": "source-tenant",
}


def artifacts_of(finished: FinishedImport, run_id: Any) -> dict[str, Any]:
    found = finished.api.call(
        lambda c: c.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    )
    return {a.key: a for a in found if a.key}


def test_prefect_deploy_registers_every_deployment(deployed: Deployed) -> None:
    async def read(client: Any) -> dict[str, Any]:
        out = {}
        for name in EXPECTED:
            deployment = await client.read_deployment_by_name(name)
            schedules = await client.read_deployment_schedules(deployment.id)
            out[name] = (deployment, schedules)
        return out

    found = deployed.api.call(read)
    cfg = deployed.config
    for name, (deployment, schedules) in found.items():
        assert deployment.work_pool_name == EXPECTED[name], name
        assert deployment.enforce_parameter_schema, name
        properties = deployment.parameter_openapi_schema["properties"]
        # Defaults come from the variables; they name secrets, never hold them. A flow of one
        # registry (``registry``) gets its pool's tenant's; flows without storage have none.
        params = deployment.parameters
        defaults = {"source": cfg.source, "target": cfg.target}
        defaults["registry"] = cfg.source if EXPECTED[name] == "source-tenant" else cfg.target
        given = set(defaults) & set(params)
        assert given and given <= set(properties), name
        for key in given:
            assert params[key]["name"] == defaults[key].name, (name, key)
        if "storage" in properties:
            assert params["storage"] == cfg.storage.model_dump(mode="json", exclude_none=True)
        steps = json.dumps(deployment.pull_steps)
        assert "set_working_directory" in steps and "uv sync" in steps, name
        if name in ("source-export/source-export", "target-import/target-import"):
            assert len(schedules) == 1, name
            assert schedules[0].active and schedules[0].schedule.cron, name
            assert schedules[0].parameters == {"options": {"dry_run": True}}, name
        else:
            assert not schedules, name
    dask = found["target-import/target-import-dask"][0]
    assert dask.job_variables["env"]["ACR_MIGRATE_TASK_RUNNER"] == "dask"
    # The export -> import hand-over is a deployment trigger (an automation).
    automations = deployed.api.call(lambda c: c.read_automations())
    handover = [a for a in automations if "acr-migrate.export.completed" in a.trigger.expect]
    assert len(handover) == 1 and handover[0].enabled


def test_the_export_event_starts_the_import_dry_run(finished_import: FinishedImport) -> None:
    run = finished_import.triggered_run
    assert run.state.is_completed(), run.state.message
    assert run.parameters["manifest"] == finished_import.location.model_dump(mode="json")
    assert run.parameters["options"] == {"dry_run": True}
    artifacts = artifacts_of(finished_import, run.id)
    plan = artifacts[f"import-{finished_import.config.target.name}-plan"].data
    assert "# Import dry run" in plan and "Would import (5)" in plan
    assert f"`{finished_import.prefix}/app0:1.0`" in plan
    assert run.state.message.startswith("plan: import 5, skip 0,")
    assert "results:" not in run.state.message
    # Nothing was written by the dry run: the real import that followed still found all five
    # images to import, and imported them (a dry run that wrote would have left it skips).
    done = finished_import.import_run.state.message
    assert done.startswith("plan: import 5, skip 0,"), done
    assert "results: imported 5, skipped 0, failed 0," in done, done


def test_a_worker_runs_the_import_started_like_the_ui(finished_import: FinishedImport) -> None:
    fin = finished_import
    target = fin.config.target.name
    run = fin.import_run
    assert run.state.is_completed(), run.state.message

    # One task run per image (unique manifest), named after its first tag, Completed.
    expected_names = {f"{fin.prefix}/app{n % 2}:1.{n}" for n in range(5)}
    assert set(fin.image_runs) == expected_names
    assert all(r.state_name == "Completed" for r in fin.image_runs.values())

    artifacts = artifacts_of(fin, run.id)
    assert {
        f"import-{target}-results",
        f"import-{target}-report",
        f"import-{target}-progress",
    } <= set(artifacts)
    rows = artifacts[f"import-{target}-results"].data
    rows = json.loads(rows) if isinstance(rows, str) else rows
    assert {r["image"] for r in rows} == expected_names
    assert set(rows[0]) >= {"image", "digest", "status", "attempts", "seconds", "error"}
    assert all(r["status"] == "imported" for r in rows)
    report = artifacts[f"import-{target}-report"].data
    assert "| imported | 5 |" in report and "## Slowest images" in report
    assert "all digests match" in report
    assert float(artifacts[f"import-{target}-progress"].data) == 100.0

    # What the run reports is what the target serves: every pushed tag, at its digest.
    with RegistryClient(fin.config.target) as registry:
        served = {}
        for ref in fin.pushed:
            repository, tag = ref.split(":")
            head = registry.head_manifest(repository, tag)
            served[ref] = head.digest if head else None
    assert served == fin.pushed and len(set(served.values())) == 5

    # The manifest's keyed link artifact (the latest export of this source).
    links = fin.api.call(
        lambda c: c.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[f"manifest-{fin.config.source.name}"])
            )
        )
    )
    assert any(fin.location.blob in str(a.data) for a in links)

    # The concurrency knob exists, named after the target registry.
    limit = fin.api.call(lambda c: c.read_global_concurrency_limit_by_name(f"acr-import-{target}"))
    assert limit.limit == 4  # created on first use with the run's concurrency

    # No secret reached the parameters or artifacts the UI shows.
    env = api.read_env_file(Path(fin.config.source.ca_bundle or "").parent / api.ENV_NAME)
    shown = json.dumps(run.parameters) + "".join(str(a.data) for a in artifacts.values())
    for key, value in env.items():
        if "PASSWORD" in key or "CONNECTION_STRING" in key or "SECRET" in key:
            assert value not in shown, key


def test_compose_file_is_valid(tmp_path: Path) -> None:
    """Debian's docker-compose accepts docker-compose.yml (no engine needed for `config`)."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), "POSTGRES_PASSWORD": "x"}
    for profile in ([], ["--profile", "rehearsal"]):
        done = subprocess.run(
            [
                "docker-compose",
                "--project-directory",
                str(REPO),
                "--env-file",
                str(REPO / ".env.example"),
                "-f",
                str(REPO / "docker-compose.yml"),
                *profile,
                "config",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "prefect-server" in done.stdout and "worker-target" in done.stdout
