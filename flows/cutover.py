"""Cutover, source tenant: delete the source only after the target is validated and a person
approved it in the Prefect UI. No answer before the timeout means no.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.states import Completed, Failed, State

from acr_migrate.deletion import deletion_refusal, repositories_of
from acr_migrate.models import RegistryEndpoint
from acr_migrate.report import cutover_markdown, deleted_markdown, deletion_markdown
from acr_migrate.settings import CutoverOptions
from acr_migrate.storage import ManifestLocation, StorageSettings
from acr_migrate.summaries import CutoverSummary
from flows.approvals import DeleteApproval, ask, is_approved
from flows.artifacts import artifact_key, markdown
from tasks.cutover import delete_source_content, latest_validation, plan_deletion
from tasks.handover import resolve_manifest


@flow(name="delete-source", log_prints=False)
def delete_source(
    source: RegistryEndpoint,
    storage: StorageSettings,
    manifest: ManifestLocation | None = None,
    options: CutoverOptions = CutoverOptions(),  # noqa: B008 - pydantic defaults are immutable
) -> State:
    """Delete the migrated repositories of ``source`` (the whole registry for an ACR).

    Refuses unless the newest validation next to the manifest found every row in the target;
    then pauses with a form listing what will be deleted. Only an approval with the registry's
    name typed back deletes anything.
    """
    location, rows = resolve_manifest(storage, source.name, manifest)
    verdict = latest_validation(storage, location)
    get_run_logger().info("validation: %s", verdict.describe())
    plan = plan_deletion(source, repositories_of(rows, options.include, options.exclude))
    excluded = verdict.counts.get("excluded", 0)
    text = cutover_markdown(deletion_markdown(plan), location.blob, verdict.describe(), excluded)
    key = artifact_key("cutover", source.name)
    summary = CutoverSummary(
        source=source.login_server,
        manifest=location,
        validation=verdict.describe(),
        plan=plan.counts(),
        approved=False,
        decision="",
    )
    refused = deletion_refusal(
        plan, verdict.ok, verdict.describe(), required=options.require_validation
    )
    if refused or plan.empty:
        return _nothing_deleted(key, text, summary, refused or "nothing to delete", bool(refused))
    markdown(f"{key}-plan", text, "What deleting the source would remove")
    if options.dry_run:
        decision = "dry run: nothing asked, nothing deleted"
        return Completed(message=decision, data=summary.model_copy(update={"decision": decision}))
    approved, decision = _ask(source, text, options)
    if not approved:
        get_run_logger().warning("source not deleted: %s", decision)
        return _nothing_deleted(key, text, summary, decision, False, name="NotApproved")
    result = delete_source_content(source, plan)
    report = deleted_markdown(result.method, result.deleted, result.already_gone, result.remaining)
    markdown(f"{key}-report", text + report, "Cutover")
    update = {"approved": True, "decision": decision, "deleted": result.deleted}
    done = summary.model_copy(update={**update, "remaining": result.remaining})
    if not result.ok:
        return Failed(message=f"{len(result.remaining)} repositories still have tags", data=done)
    return Completed(message=f"deleted {result.deleted} manifests", data=done)


def _nothing_deleted(
    key: str, text: str, summary: CutoverSummary, decision: str, failed: bool, name: str = ""
) -> State:
    """The report of a cutover that deleted nothing, and the run's final state."""
    markdown(f"{key}-report", text + f"\n## Nothing deleted\n\n{decision}\n", "Cutover")
    data = summary.model_copy(update={"decision": decision})
    if failed:
        return Failed(message=decision, data=data)
    return Completed(message=decision, data=data, name=name or "Completed")


def _ask(source: RegistryEndpoint, text: str, options: CutoverOptions) -> tuple[bool, str]:
    """Pause for the approval form; yes only when ticked with the registry's name typed back."""
    answer = ask(
        DeleteApproval,
        text + f"\nTo approve, tick **approve** and type `{source.name}` below.\n",
        options.approval_timeout_seconds,
    )
    approved, decision = is_approved(answer.form.approve, answer.form.confirm_registry, source.name)
    if answer.timed_out:
        decision = "no answer before the timeout: nothing deleted"
    if approved:
        comment = answer.form.comment
        get_run_logger().warning(
            "deleting %s (approved%s)", source.name, f": {comment}" if comment else ""
        )
    return approved, decision
