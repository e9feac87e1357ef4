"""The whole runbook from the UI: freeze, document, create, migrate, test, reconnect roles,
final test, delete the source, revoke, each step one flow run, in order.

In ``deployments`` mode each step is a run of its own deployment in its tenant's work pool
(the runbook holds no identity); in ``subflows`` mode they run in this flow run. The runbook
asks before freezing; ``delete-source`` asks for itself. It stops at the first step that does
not complete, and reports every step with its run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow
from prefect.deployments import run_deployment
from prefect.states import Completed, Failed, State
from pydantic_core import to_jsonable_python

from acr_migrate.freeze import FreezeOptions
from acr_migrate.models import RegistryEndpoint
from acr_migrate.pull_token import PullTokenOptions, RevokeOptions, default_block_name
from acr_migrate.runbook import RunbookMode, RunbookOptions, StepReport, runbook_markdown
from acr_migrate.settings import CutoverOptions, ExportOptions, ImportOptions
from acr_migrate.storage import StorageSettings
from flows.aks import reconnect_aks
from flows.approvals import Approval, ask
from flows.artifacts import artifact_key, markdown
from flows.cutover import delete_source
from flows.final_test import final_test
from flows.freeze import freeze_source
from flows.provision import provision_registry
from flows.pull_token import grant_pull_token, revoke_pull_token
from flows.rbac import reconnect_rbac
from flows.revoke import revoke_access
from flows.source_export import source_export
from flows.target_import import target_import


class _Steps:
    """Runs the steps one by one and keeps their reports."""

    def __init__(self, mode: RunbookMode):
        self.mode = mode
        self.reports: list[StepReport] = []
        self.manifest: Any = None  # the export's manifest (subflows; deployments take the latest)

    def __call__(self, step: str, deployment: str, fn: Callable[..., Any], **params: Any) -> bool:
        if self.mode is RunbookMode.SUBFLOWS:
            state, run_id = fn(**params, return_state=True), ""
            data = state.result(raise_on_failure=False) if state.is_completed() else None
            self.manifest = getattr(data, "location", None) or self.manifest
        else:
            run = run_deployment(deployment, parameters=to_jsonable_python(params), timeout=None)
            state, run_id = run.state, str(run.id)  # type: ignore[union-attr]
        name = state.name if state else "Unknown"
        message = (state.message or "") if state else ""
        self.reports.append(StepReport(step=step, flow_run=run_id, state=name, message=message))
        return name == "Completed"


@flow(name="migrate-registry", log_prints=False)
def migrate_registry(
    source: RegistryEndpoint,
    target: RegistryEndpoint,
    storage: StorageSettings,
    options: RunbookOptions = RunbookOptions(),  # noqa: B008 - pydantic defaults are immutable
) -> State:
    """Move ``source`` to ``target`` step by step; stops at the first step that does not
    complete."""
    run = _Steps(options.mode)
    if options.freeze and not _freeze_approved(source, options):
        return _report(source, target, run.reports, done=False)
    for step, deployment, fn, params in _plan(source, target, storage, options):
        if not run(step, deployment, fn, **params(run.manifest)):
            return _report(source, target, run.reports, done=False)
    return _report(source, target, run.reports, done=True)


Params = Callable[[Any], dict[str, Any]]


def _plan(
    source: RegistryEndpoint,
    target: RegistryEndpoint,
    storage: StorageSettings,
    options: RunbookOptions,
) -> list[tuple[str, str, Callable[..., Any], Params]]:
    """The steps the options ask for: (step, deployment, flow, parameters given the manifest)."""
    scope: dict[str, Any] = {"include": options.include, "exclude": options.exclude}
    ends = {"source": source, "storage": storage}
    both = {**ends, "target": target}
    mapping = options.principal_mapping_blob
    cutover = CutoverOptions(**scope, approval_timeout_seconds=options.approval_timeout_seconds)
    imports = ImportOptions(engine=options.engine, **scope)
    block = default_block_name(source.name)
    # With a pull token, the import reads the source with the token alone.
    puller = source.model_copy(update={"pull_token_block": block}) if options.pull_token else source
    steps: list[tuple[bool, str, str, Callable[..., Any], Params]] = [
        (
            options.freeze,
            "freeze",
            "freeze-source/freeze-source",
            freeze_source,
            lambda m: {**ends, "options": FreezeOptions(**scope)},
        ),
        (
            True,
            "document",
            "source-export/source-export",
            source_export,
            lambda m: {**ends, "options": ExportOptions(**scope)},
        ),
        (
            options.provision,
            "create",
            "provision-target/provision-target",
            provision_registry,
            lambda m: {**both, "manifest": m},
        ),
        (
            options.pull_token,
            "temporary pull credential",
            "grant-pull-token/grant-pull-token",
            grant_pull_token,
            _fixed({**ends, "options": PullTokenOptions(**scope)}),
        ),
        (
            True,
            "migrate images",
            "target-import/target-import",
            target_import,
            lambda m: {**both, "source": puller, "manifest": m, "options": imports},
        ),
        (
            mapping is not None,
            "reconnect roles",
            "reconnect-rbac/reconnect-rbac",
            reconnect_rbac,
            lambda m: {**both, "manifest": m, "mapping_blob": mapping},
        ),
        (
            bool(options.aks_clusters),
            "reconnect applications",
            "reconnect-aks/reconnect-aks",
            reconnect_aks,
            _fixed({"target": target, "clusters": options.aks_clusters}),
        ),
        (
            True,
            "final test",
            "final-test/final-test",
            final_test,
            lambda m: {**both, "manifest": m, "mapping_blob": mapping or ""},
        ),
        (
            options.delete_source,
            "delete the source",
            "delete-source/delete-source",
            delete_source,
            lambda m: {**ends, "manifest": m, "options": cutover},
        ),
    ]
    steps.append(
        (
            options.pull_token,
            "revoke (pull token)",
            "revoke-pull-token/revoke-pull-token",
            revoke_pull_token,
            _fixed({"source": source, "options": RevokeOptions()}),
        )
    )
    for who, registry in (("source", source), ("target", target)):
        revoke = {"registry": registry, "principals": options.migration_principals}
        steps.append(
            (
                bool(options.migration_principals),
                f"revoke ({who})",
                f"revoke-access/revoke-{who}-access",
                revoke_access,
                _fixed(revoke),
            )
        )
    return [
        (name, deployment, fn, params) for wanted, name, deployment, fn, params in steps if wanted
    ]


def _fixed(params: dict[str, Any]) -> Params:
    """Parameters that do not depend on the manifest."""
    return lambda _manifest: params


def _freeze_approved(source: RegistryEndpoint, options: RunbookOptions) -> bool:
    text = (
        f"# Freeze `{source.name}`\n\nNo push reaches the repositories in scope from now until "
        "`unfreeze-source` or the source is deleted. Tick **approve** to freeze and migrate.\n"
    )
    return ask(Approval, text, options.approval_timeout_seconds).form.approve


def _report(
    source: RegistryEndpoint, target: RegistryEndpoint, steps: list[StepReport], done: bool
) -> State:
    markdown(
        artifact_key("runbook", source.name),
        runbook_markdown(source.login_server, target.login_server, steps),
        "Runbook",
    )
    last = (
        steps[-1]
        if steps
        else StepReport(step="freeze", state="NotApproved", message="not approved: nothing done")
    )
    if done:
        return Completed(
            message=f"runbook done: {len(steps)} step(s); last: {last.step}: {last.message}",
            data=steps,
        )
    if last.state in ("Completed", "NotApproved"):
        return Completed(
            message=f"runbook stopped at {last.step}: {last.message}", data=steps, name="Stopped"
        )
    return Failed(message=f"runbook failed at {last.step}: {last.message}", data=steps)
