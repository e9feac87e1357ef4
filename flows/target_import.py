"""Target tenant: verify the manifest, plan, import every image as its own task, validate."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State
from pydantic import BaseModel

from acr_migrate.errors import backoff_delays
from acr_migrate.models import Action, ImportItem, ImportResult, ImportStatus, RegistryEndpoint
from acr_migrate.plan import Plan, make_plan
from acr_migrate.preflight import Need, refusal
from acr_migrate.progress import publish
from acr_migrate.references import short_digest
from acr_migrate.report import import_markdown, result_table, results_csv, validation_csv
from acr_migrate.settings import EngineName, ImportOptions
from acr_migrate.storage import ManifestLocation, StorageSettings
from acr_migrate.validate import ValidationReport, validate_rows
from flows.approvals import ApprovalSettings, ForceApproval, ask
from flows.artifacts import Progress, artifact_key, markdown, table
from flows.runners import TaskRunnerSettings, make_task_runner
from tasks.clients import close_all
from tasks.handover import fetch_manifest, latest_manifest, upload_report
from tasks.import_image import import_image
from tasks.inventory import read_target
from tasks.limits import ensure_limit, limit_name
from tasks.preflight import preflight


class ImportSummary(BaseModel):
    """What the import did; ``ok`` is False when any image failed or validation found a gap."""

    manifest: ManifestLocation
    plan: dict[str, int]
    results: dict[str, int]
    validation: dict[str, int]
    failed: list[str]
    results_url: str
    validation_url: str
    dry_run: bool
    ok: bool


@flow(name="target-import", log_prints=False)
def target_import(
    source: RegistryEndpoint,
    target: RegistryEndpoint,
    storage: StorageSettings,
    manifest: ManifestLocation | None = None,
    options: ImportOptions = ImportOptions(),  # noqa: B008 - pydantic defaults are immutable
    approval: ApprovalSettings = ApprovalSettings(),  # noqa: B008
    runner: TaskRunnerSettings = TaskRunnerSettings(),  # noqa: B008
) -> State:
    """Import the manifest's images into ``target``; the latest export if ``manifest`` is unset.

    With ``force``, overwriting target tags that hold another digest waits for an approval in
    the UI (``approval``); refused or unanswered, the conflicts stay conflicts. Imports run on
    ``runner`` (threads or Dask) and each holds a slot of the global concurrency limit
    ``acr-import-<target>``.
    """
    logger = get_run_logger()
    image_filter = options.image_filter()
    problems = preflight(
        storage,
        [
            # acr-import: ARM pulls from the source; the worker needs only its credential.
            Need(source, "source", reach=options.engine is EngineName.OCI_COPY, arm=False),
            # A dry run may plan against a target that is not provisioned yet.
            Need(
                target,
                "target",
                must_exist=not options.dry_run,
                phase=(
                    "import"
                    if options.engine is EngineName.ACR_IMPORT and not options.dry_run
                    else None
                ),
            ),
        ],
    )
    if problems:
        return Failed(message=refusal(problems))
    location = manifest or latest_manifest(storage, source.name)
    rows = fetch_manifest(storage, location)
    logger.info("manifest %s: %d rows verified", location.blob, len(rows))
    target_state = read_target(target, rows)
    plan: Plan = make_plan(rows, target_state, image_filter, force=options.force)
    overwrites = [p for p in plan.of(Action.IMPORT) if p.target_digests]
    if overwrites and not options.dry_run and approval.should_ask():
        answer = ask(
            ForceApproval,
            _force_description(target, overwrites),
            approval.timeout_seconds,
        )
        if not answer.form.approve:
            logger.warning(
                "force not approved%s: %d conflicting tag(s) are left alone",
                " (timed out)" if answer.timed_out else "",
                sum(len(p.target_digests) for p in overwrites),
            )
            options = options.model_copy(update={"force": False})
            plan = make_plan(rows, target_state, image_filter, force=False)
    logger.info("plan: %s", plan.counts())
    results: list[ImportResult] = []
    try:
        if options.dry_run:
            results = [
                ImportResult(
                    repository=i.repository,
                    digest=i.digest,
                    tags=i.tags,
                    status=ImportStatus.DRY_RUN,
                )
                for i in plan.imports
            ]
        else:
            results = _import_all(plan, source, target, options, runner)
    finally:
        close_all()
    validation: ValidationReport | None = None
    results_url = validation_url = ""
    run = str(flow_run.id or "local")[:8]
    if not options.dry_run:
        # Nothing was written: the target read for the plan is still the target.
        after = read_target(target, rows) if results else target_state
        validation = validate_rows(rows, after, image_filter)
        results_url = upload_report(storage, location, f"results-{run}.csv", results_csv(results))
        validation_url = upload_report(
            storage, location, f"validation-{run}.csv", validation_csv(validation)
        )
    report = import_markdown(
        plan, results, validation, manifest_url=location.blob, dry_run=options.dry_run
    )
    key = artifact_key("import", target.name)
    if options.dry_run:
        markdown(f"{key}-plan", report, f"Import plan (dry run) into {target.name}")
    else:
        if results:
            table(f"{key}-results", result_table(results), f"Images imported into {target.name}")
        markdown(f"{key}-report", report, f"Import report for {target.name}")
    failed = [f"{r.label}: {r.error}" for r in results if r.status is ImportStatus.FAILED]
    summary = ImportSummary(
        manifest=location,
        plan=plan.counts(),
        results={s.value: sum(r.status is s for r in results) for s in ImportStatus},
        validation=validation.counts() if validation else {},
        failed=failed,
        results_url=results_url,
        validation_url=validation_url,
        dry_run=options.dry_run,
        ok=not failed and (validation is None or validation.ok),
    )
    if failed:
        return Failed(message=f"{len(failed)} image(s) failed: {failed[0]}", data=summary)
    if validation is not None and not validation.ok:
        return Failed(
            message=f"validation found {len(validation.problems())} problem(s)", data=summary
        )
    parts = [f"plan: {_counts_text(summary.plan)}"]
    if not options.dry_run:
        parts += [f"results: {_counts_text(summary.results)}"]
        parts += [f"validation: {_counts_text(summary.validation)}"]
    return Completed(message="; ".join(parts), data=summary)


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in counts.items())


def _force_description(target: RegistryEndpoint, overwrites: list[Any], limit: int = 50) -> str:
    tags = [(p.item, tag, digest) for p in overwrites for tag, digest in p.target_digests.items()]
    lines = [
        f"# Overwrite {len(tags)} tag(s) in `{target.login_server}`?",
        "",
        "`force` is set and these tags of the target hold another digest. Approve to make them "
        "point at the source's digest; refuse (or let the time run out) to import everything "
        "else and leave them as they are.",
        "",
        "| tag | target now | source |",
        "|---|---|---|",
    ]
    for item, tag, digest in tags[:limit]:
        lines.append(
            f"| `{item.repository}:{tag}` | {short_digest(digest)} | {short_digest(item.digest)} |"
        )
    if len(tags) > limit:
        lines.append(f"| ... {len(tags) - limit} more | | |")
    return "\n".join(lines) + "\n"


def _import_all(
    plan: Plan,
    source: RegistryEndpoint,
    target: RegistryEndpoint,
    options: ImportOptions,
    settings: TaskRunnerSettings,
) -> list[ImportResult]:
    """Submit one task per image on a bounded runner; collect every outcome, failures included."""
    items = plan.imports
    task: Any = import_image.with_options(
        retries=options.retries,
        retry_delay_seconds=backoff_delays(max(1, options.retries), options.retry_delay_seconds),
    )
    results: list[ImportResult] = []
    limit = limit_name(target)
    if items:
        slots = ensure_limit(limit, options.concurrency)
        get_run_logger().info(
            "importing %d image(s); global concurrency limit %s: %d slot(s)",
            len(items),
            limit,
            slots,
        )
    else:
        get_run_logger().info("nothing to import")
    progress = Progress(
        artifact_key("import", target.name, "progress"),
        len(items),
        f"Images finished of {len(items)} into {target.name}",
    )
    if not items:  # no runner to start (a Dask runner would start a cluster for nothing)
        return results
    with make_task_runner(settings, options.concurrency) as runner:
        futures: dict[Any, ImportItem] = {
            runner.submit(
                task,
                parameters={
                    "item": item,
                    "source": source,
                    "target": target,
                    "engine": options.engine.value,
                    "force": options.force,
                    "concurrency": options.concurrency,
                    "limit": limit,
                    "max_per_second": settings.max_images_per_second,
                },
            ): item
            for item in items
        }
        for future in as_completed(list(futures)):
            item = futures[future]
            outcome = future.result(raise_on_failure=False)
            if isinstance(outcome, ImportResult):
                result = outcome
            else:
                result = ImportResult(
                    repository=item.repository,
                    digest=item.digest,
                    tags=item.tags,
                    status=ImportStatus.FAILED,
                    attempts=int(getattr(outcome, "acr_attempts", 1)),
                    error=_describe(outcome),
                )
            results.append(result)
            publish(result, len(results), len(items))
            progress.update(len(results))
    progress.update(len(results), force=True)
    order = {(i.repository, i.digest): n for n, i in enumerate(items)}
    return sorted(results, key=lambda r: order[(r.repository, r.digest)])


def _describe(outcome: object) -> str:
    if isinstance(outcome, BaseException):
        return f"{type(outcome).__name__}: {outcome}"
    return str(outcome)
