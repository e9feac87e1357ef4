"""Cutover, source tenant: delete the source only after the target is validated and a person
approved it in the Prefect UI. No answer before the timeout means no.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.states import Completed, Failed, State
from pydantic import BaseModel

from acr_migrate.cutover import CutoverOptions, is_approved, repositories_of
from acr_migrate.models import RegistryEndpoint
from acr_migrate.storage import ManifestLocation, StorageSettings
from flows.approvals import DeleteApproval, ask
from flows.artifacts import artifact_key, markdown
from tasks.cutover import delete_source_content, latest_validation, plan_deletion
from tasks.handover import fetch_manifest, latest_manifest


class CutoverSummary(BaseModel):
    """What the cutover decided and did."""

    source: str
    manifest: ManifestLocation
    validation: str
    plan: dict[str, int]
    approved: bool
    decision: str
    deleted: int = 0
    remaining: dict[str, list[str]] = {}


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
    logger = get_run_logger()
    key = artifact_key("cutover", source.name)
    location = manifest or latest_manifest(storage, source.name)
    rows = fetch_manifest(storage, location)
    verdict = latest_validation(storage, location)
    logger.info("validation: %s", verdict.describe())
    repositories = repositories_of(rows, options.include, options.exclude)
    plan = plan_deletion(source, repositories)
    text = plan.markdown()
    text += f"\nManifest: `{location.blob}`\n\nValidation: {verdict.describe()}\n"
    excluded = verdict.counts.get("excluded", 0)
    if excluded:
        text += (
            f"\n**{excluded} manifest row(s) were excluded from the migration by filters and "
            "will be lost.**\n"
        )

    def summary(approved: bool, decision: str, **extra: object) -> CutoverSummary:
        return CutoverSummary(
            source=source.login_server,
            manifest=location,
            validation=verdict.describe(),
            plan=plan.counts(),
            approved=approved,
            decision=decision,
            **extra,  # type: ignore[arg-type]
        )

    def nothing_deleted(decision: str) -> CutoverSummary:
        markdown(f"{key}-report", text + f"\n## Nothing deleted\n\n{decision}\n", "Cutover")
        return summary(False, decision)

    if options.require_validation and not verdict.ok:
        decision = f"refused: the target is not validated ({verdict.describe()})"
        return Failed(message=decision, data=nothing_deleted(decision))
    if plan.outside:
        decision = (
            f"refused: deleting the registry would also delete {len(plan.outside)} repositories "
            f"that were not migrated ({', '.join(plan.outside[:10])}"
            f"{', ...' if len(plan.outside) > 10 else ''}); migrate them or delete them first"
        )
        return Failed(message=decision, data=nothing_deleted(decision))
    if plan.empty:
        decision = "nothing to delete"
        return Completed(message=decision, data=nothing_deleted(decision))
    markdown(f"{key}-plan", text, "What deleting the source would remove")
    if options.dry_run:
        decision = "dry run: nothing asked, nothing deleted"
        return Completed(message=decision, data=summary(False, decision))

    answer = ask(
        DeleteApproval,
        text + f"\nTo approve, tick **approve** and type `{source.name}` below.\n",
        options.approval_timeout_seconds,
    )
    approved, decision = is_approved(answer.form.approve, answer.form.confirm_registry, source.name)
    if answer.timed_out:
        decision = "no answer before the timeout: nothing deleted"
    if not approved:
        logger.warning("source not deleted: %s", decision)
        return Completed(name="NotApproved", message=decision, data=nothing_deleted(decision))

    comment = answer.form.comment
    logger.warning("deleting %s (approved%s)", source.name, f": {comment}" if comment else "")
    result = delete_source_content(source, plan)
    done = summary(True, decision, deleted=result.deleted, remaining=result.remaining)
    lines = [
        "",
        "## Deleted",
        "",
        f"- method: {result.method}",
        f"- manifests deleted: {result.deleted} (already gone: {result.already_gone})",
    ]
    if result.remaining:
        lines += ["", "## Still there (not deleted)", ""]
        lines += [f"- `{repo}`: {', '.join(tags)}" for repo, tags in result.remaining.items()]
    markdown(f"{key}-report", text + "\n".join(lines) + "\n", "Cutover")
    if not result.ok:
        return Failed(message=f"{len(result.remaining)} repositories still have tags", data=done)
    return Completed(message=f"deleted {result.deleted} manifests", data=done)
