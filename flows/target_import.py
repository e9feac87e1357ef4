"""Target tenant: verify the manifest, plan, import every image as its own task, validate."""

from __future__ import annotations

import uuid
from typing import Any

from prefect import flow, get_run_logger
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from acr_migrate.errors import backoff_delays
from acr_migrate.journal import Journal, final_results
from acr_migrate.models import (
    Action,
    ConcurrencyStats,
    ImageRow,
    ImportItem,
    ImportResult,
    ImportStatus,
    RegistryEndpoint,
)
from acr_migrate.plan import Plan, make_plan
from acr_migrate.ports import TargetState
from acr_migrate.preflight import import_needs, refusal
from acr_migrate.report import force_markdown, import_markdown, result_table, results_csv
from acr_migrate.settings import ImportOptions
from acr_migrate.storage import ManifestLocation, StorageSettings
from acr_migrate.summaries import ImportSummary
from acr_migrate.validate import ValidationReport
from flows.approvals import ApprovalSettings, ForceApproval, ask
from flows.artifacts import Progress, artifact_key, markdown, run_tag, table
from flows.progress import publish
from flows.runners import TaskRunnerSettings, make_task_runner
from flows.validate import check_target, validate
from tasks.handover import resolve_manifest, unfinished_imports, upload_report
from tasks.import_image import import_image
from tasks.inventory import read_target
from tasks.limits import ensure_limit, limit_name
from tasks.limits.adaptive import close_window, window_stats
from tasks.preflight import preflight
from tasks.registries import close_all


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
    ``acr-import-<target>``. Then the ``validate`` subflow checks the target.
    """
    problems = preflight(storage, import_needs(source, target, options))
    if problems:
        return Failed(message=refusal(problems))
    location, rows = resolve_manifest(storage, source.name, manifest)
    get_run_logger().info("manifest %s: %d rows verified", location.blob, len(rows))
    plan, options, before = _approved_plan(target, rows, options, approval)
    results, concurrency = _import_all(
        plan, source, target, options, runner, Journal.open(storage, location, run_tag())
    )
    validation: ValidationReport | None = None
    results_url = ""
    if not options.dry_run:
        results = final_results(plan, results, unfinished_imports(storage, location))
        results_url = upload_report(
            storage, location, f"results-{run_tag()}.csv", results_csv(results)
        )
        report = _validated(source, target, storage, location, rows, options, before, plan)
        if not isinstance(report, ValidationReport):
            return Failed(message=report)
        validation = report
    _publish(target, location, plan, results, validation, options.dry_run, concurrency)
    summary = ImportSummary.of(
        location,
        plan,
        results,
        validation,
        results_url=results_url,
        dry_run=options.dry_run,
        concurrency=concurrency,
    )
    return (Completed if summary.ok else Failed)(message=summary.message(), data=summary)


def _validated(
    source: RegistryEndpoint,
    target: RegistryEndpoint,
    storage: StorageSettings,
    location: ManifestLocation,
    rows: list[ImageRow],
    options: ImportOptions,
    before: TargetState,
    plan: Plan,
) -> ValidationReport | str:
    """The ``validate`` subflow's report; when the plan imported nothing, the same check
    against the target as read for the plan (``before``), without reading it again. Else why it
    could not run."""
    if plan.imports:
        checked = validate(source, target, storage, location, options, return_state=True)
    else:
        checked = check_target(source, target, storage, location, rows, options, before)
    report = checked.result(raise_on_failure=False)
    if isinstance(report, ValidationReport):
        return report
    return f"validation could not run: {checked.message}"


def _approved_plan(
    target: RegistryEndpoint,
    rows: list[ImageRow],
    options: ImportOptions,
    approval: ApprovalSettings,
) -> tuple[Plan, ImportOptions, TargetState]:
    """The plan against the target (and the target as read); ``force`` stands only if a person
    approved it (or was not to be asked)."""
    target_state = read_target(target, rows)
    image_filter = options.image_filter()
    plan = make_plan(rows, target_state, image_filter, force=options.force)
    overwrites = [p for p in plan.of(Action.IMPORT) if p.target_digests]
    if overwrites and not options.dry_run and approval.should_ask():
        text = force_markdown(target.login_server, overwrites)
        answer = ask(ForceApproval, text, approval.timeout_seconds)
        if not answer.form.approve:
            get_run_logger().warning(
                "force not approved%s: %d conflicting tag(s) are left alone",
                " (timed out)" if answer.timed_out else "",
                sum(len(p.target_digests) for p in overwrites),
            )
            options = options.model_copy(update={"force": False})
            plan = make_plan(rows, target_state, image_filter, force=False)
    get_run_logger().info("plan: %s", plan.counts())
    return plan, options, target_state


def _publish(
    target: RegistryEndpoint,
    location: ManifestLocation,
    plan: Plan,
    results: list[ImportResult],
    validation: ValidationReport | None,
    dry_run: bool,
    concurrency: ConcurrencyStats | None,
) -> None:
    """The run's artifacts: the plan (dry run), or the results table and the report."""
    report = import_markdown(
        plan,
        results,
        validation,
        manifest_url=location.blob,
        dry_run=dry_run,
        concurrency=concurrency,
    )
    key = artifact_key("import", target.name)
    if dry_run:
        markdown(f"{key}-plan", report, f"Import plan (dry run) into {target.name}")
        return
    if results:
        table(f"{key}-results", result_table(results), f"Images imported into {target.name}")
    markdown(f"{key}-report", report, f"Import report for {target.name}")


def _import_all(
    plan: Plan,
    source: RegistryEndpoint,
    target: RegistryEndpoint,
    options: ImportOptions,
    settings: TaskRunnerSettings,
    journal: Journal,
) -> tuple[list[ImportResult], ConcurrencyStats | None]:
    """Submit one task per image on a bounded runner; collect every outcome, failures included,
    each written to the run's journal as it comes. Also how many images were in flight (the
    run's adaptive window, :mod:`tasks.limits.adaptive`) and how often the target throttled."""
    items = plan.imports
    if options.dry_run:
        return [ImportResult.of(item, ImportStatus.DRY_RUN) for item in items], None
    limit = limit_name(target)
    if items:
        slots = ensure_limit(limit, options.concurrency)
        get_run_logger().info(
            "importing %d image(s); %s up to %d at once; global concurrency limit %s: %d slot(s)",
            len(items),
            "adaptive," if options.adaptive else "fixed,",
            options.concurrency,
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
        return [], None
    window_key = f"{limit}@{flow_run.id or uuid.uuid4()}"
    task: Any = import_image.with_options(
        retries=options.retries,
        retry_delay_seconds=backoff_delays(max(1, options.retries), options.retry_delay_seconds),
    )
    parameters = {
        "source": source,
        "target": target,
        "engine": options.engine.value,
        "force": options.force,
        "concurrency": options.concurrency,
        "limit": limit,
        "max_per_second": settings.max_images_per_second,
        "window_key": window_key,
        "adaptive": options.adaptive,
    }
    results: list[ImportResult] = []
    try:
        with make_task_runner(settings, options.concurrency) as runner:
            futures: dict[Any, ImportItem] = {
                runner.submit(task, parameters={"item": item, **parameters}): item for item in items
            }
            for future in as_completed(list(futures)):
                outcome = future.result(raise_on_failure=False)
                result = (
                    outcome
                    if isinstance(outcome, ImportResult)
                    else ImportResult.failed(futures[future], outcome)
                )
                results.append(result)
                journal.add(result)
                publish(result, len(results), len(items))
                progress.update(len(results), note=_window_note(window_key))
    finally:
        journal.flush()
        close_all()
        concurrency = close_window(window_key)
    progress.update(len(results), force=True, note=concurrency.text() if concurrency else None)
    order = {(i.repository, i.digest): n for n, i in enumerate(items)}
    return sorted(results, key=lambda r: order[(r.repository, r.digest)]), concurrency


def _window_note(key: str) -> str | None:
    stats = window_stats(key)
    return stats.text() if stats else None
