"""Target tenant: verify the manifest, plan, import every image as its own task, validate."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel

from acr_migrate.errors import backoff_delays
from acr_migrate.models import ImportItem, ImportResult, ImportStatus, RegistryEndpoint
from acr_migrate.plan import Plan, make_plan
from acr_migrate.progress import publish
from acr_migrate.report import import_markdown, result_table, results_csv, validation_csv
from acr_migrate.settings import ImportOptions
from acr_migrate.storage import ManifestLocation, StorageSettings
from acr_migrate.validate import ValidationReport, validate_rows
from flows.artifacts import artifact_key, markdown, table
from tasks.clients import close_all
from tasks.handover import fetch_manifest, latest_manifest, upload_report
from tasks.import_image import import_image
from tasks.inventory import read_target


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
) -> State:
    """Import the manifest's images into ``target``; the latest export if ``manifest`` is unset."""
    logger = get_run_logger()
    image_filter = options.image_filter()
    location = manifest or latest_manifest(storage, source.name)
    rows = fetch_manifest(storage, location)
    logger.info("manifest %s: %d rows verified", location.blob, len(rows))
    plan: Plan = make_plan(rows, read_target(target, rows), image_filter, force=options.force)
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
            results = _import_all(plan, source, target, options)
    finally:
        close_all()
    validation: ValidationReport | None = None
    results_url = validation_url = ""
    run = str(flow_run.id or "local")[:8]
    if not options.dry_run:
        validation = validate_rows(rows, read_target(target, rows), image_filter)
        results_url = upload_report(storage, location, f"results-{run}.csv", results_csv(results))
        validation_url = upload_report(
            storage, location, f"validation-{run}.csv", validation_csv(validation)
        )
    report = import_markdown(
        plan, results, validation, manifest_url=location.blob, dry_run=options.dry_run
    )
    key = artifact_key("import", target.name)
    if results:
        table(f"{key}-results", result_table(results), f"Images imported into {target.name}")
    markdown(f"{key}-report", report, "Import report")
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
    return Completed(message=f"plan {plan.counts()}", data=summary)


def _import_all(
    plan: Plan, source: RegistryEndpoint, target: RegistryEndpoint, options: ImportOptions
) -> list[ImportResult]:
    """Submit one task per image on a bounded pool; collect every outcome, failures included."""
    items = plan.imports
    task: Any = import_image.with_options(
        retries=options.retries,
        retry_delay_seconds=backoff_delays(max(1, options.retries), options.retry_delay_seconds),
    )
    results: list[ImportResult] = []
    runner: ThreadPoolTaskRunner[Any]
    with ThreadPoolTaskRunner(max_workers=options.concurrency) as runner:
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
    order = {(i.repository, i.digest): n for n, i in enumerate(items)}
    return sorted(results, key=lambda r: order[(r.repository, r.digest)])


def _describe(outcome: object) -> str:
    if isinstance(outcome, BaseException):
        return f"{type(outcome).__name__}: {outcome}"
    return str(outcome)
