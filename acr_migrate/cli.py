"""``acr-migrate``: run the flows from a terminal, driven by one config file.

Flows are loaded by the same entrypoints ``prefect.yaml`` names, as a worker loads them, so
the core never imports Prefect code. The runs go to the server in ``PREFECT_API_URL``, else to
the config's ``[prefect] api_url`` (the sandbox's server) when it answers, else to a temporary
local server that Prefect starts for the one command.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from acr_migrate.errors import MigrationError
from acr_migrate.manifest import ManifestError
from acr_migrate.models import ConfigError
from acr_migrate.preflight import problems_of
from acr_migrate.settings import PREFECT_SERVER_SETTINGS, MigrationConfig, load_config

DEFAULT_CONFIG = Path(".sandbox/acr-migrate.toml")
ENTRYPOINTS = {
    "export": "flows.source_export:source_export",
    "import": "flows.target_import:target_import",
    "validate": "flows.validate:validate",
    "provision": "flows.provision:provision_registry",
}

#: A temporary server's first start migrates a new database: far beyond Prefect's 20 s default
#: on a slow or busy machine.
TEMPORARY_SERVER_STARTUP_SECONDS = "900"

app = typer.Typer(help="Move an Azure Container Registry to another tenant.", no_args_is_help=True)
console = Console()

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config", "-c", envvar="ACR_MIGRATE_CONFIG", help="Config file (TOML)", show_default=True
    ),
]
ManifestOption = Annotated[
    str | None,
    typer.Option(help="Manifest blob path in the container (default: the latest export)"),
]


def _flow(name: str) -> Any:
    module, _, attribute = ENTRYPOINTS[name].partition(":")
    flow = getattr(importlib.import_module(module), attribute)
    _quiet_clear_errors()  # Prefect (imported by now) has set up its console logging
    return flow


#: Errors whose message says everything (a bad manifest, a bad configuration): the terminal
#: shows Prefect's log line of them without a traceback; the run's logs keep it.
CLEAR_ERRORS: tuple[type[BaseException], ...] = (ManifestError, ConfigError)


class _NoTracebackFor(logging.Formatter):
    """A console formatter that leaves out the traceback of a :data:`CLEAR_ERRORS` error."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, CLEAR_ERRORS):
            return self.inner.format(record)
        saved = record.exc_info, record.exc_text
        record.exc_info, record.exc_text = None, None
        try:
            return self.inner.format(record)
        finally:  # other handlers (Prefect's API log) still get the traceback
            record.exc_info, record.exc_text = saved


def _quiet_clear_errors() -> None:
    """Wrap the formatter of every console (stream) handler in :class:`_NoTracebackFor`."""
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(
                handler.formatter, _NoTracebackFor
            ):
                handler.setFormatter(_NoTracebackFor(handler.formatter))


def _answers(api_url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{api_url.rstrip('/')}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _ui(api_url: str) -> str:
    return (os.environ.get("PREFECT_UI_URL") or api_url.removesuffix("/api")).rstrip("/")


def _connect(cfg: MigrationConfig) -> str | None:
    """Choose the Prefect server before Prefect is imported; returns its UI address, or None
    for a temporary server."""
    # A temporary server would try to send telemetry and log an error without internet.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    explicit = os.environ.get("PREFECT_API_URL")
    if explicit:
        if not _answers(explicit):
            console.print(
                f"[red]error:[/red] no Prefect API answers at PREFECT_API_URL={explicit}: "
                "start that server, or unset PREFECT_API_URL to use a temporary one"
            )
            raise typer.Exit(2)
        return _ui(explicit)
    configured = cfg.prefect.api_url
    if configured:
        if _answers(configured):
            os.environ["PREFECT_API_URL"] = configured
            return _ui(configured)
        console.print(
            f"[yellow]note:[/yellow] the config's Prefect server ({configured}) does not answer "
            "(`make sandbox-up` starts the sandbox's); using a temporary one"
        )
    os.environ.setdefault(
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", TEMPORARY_SERVER_STARTUP_SECONDS
    )
    for key, value in PREFECT_SERVER_SETTINGS.items():  # the temporary server inherits them
        os.environ.setdefault(key, value)
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    first = not (home / "prefect.db").exists()
    console.print(
        "Prefect: starting a temporary local server"
        + (" (first start: preparing its database, this can take a minute)" if first else "")
        + "; its runs are not kept (set PREFECT_API_URL to keep them)"
    )
    return None


def _config(path: Path) -> MigrationConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None


def _location(cfg: MigrationConfig, manifest: str | None) -> Any:
    """The manifest the user named, or None for the latest export."""
    from acr_migrate.storage import ManifestLocation

    return ManifestLocation(container=cfg.storage.container, blob=manifest) if manifest else None


def _run(name: str, cfg: MigrationConfig, **parameters: Any) -> tuple[bool, Any]:
    """Run flow ``name`` on the chosen server; print where its run can be seen."""
    ui = _connect(cfg)
    try:
        state = _flow(name)(**parameters, return_state=True)
    except Exception as exc:  # the server went away, or refused the run
        where = os.environ.get("PREFECT_API_URL") or "a temporary server"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        console.print(
            f"[red]error:[/red] {name} could not run on Prefect ({where}; set PREFECT_API_URL "
            f"to choose the server): {type(exc).__name__}: {escape(first[:300])}"
        )
        raise typer.Exit(2) from None
    refused = problems_of(state.message) if state.is_failed() else []
    if refused:
        console.print(f"[red]{name} did not start:[/red] fix the configuration first")
        for problem in refused:
            console.print(f"  - {escape(problem)}", soft_wrap=True)
        raise typer.Exit(2)
    try:
        data = state.result(raise_on_failure=False)
    except MigrationError as exc:
        data = exc
    ok = not state.is_failed() and not isinstance(data, BaseException)
    if isinstance(data, BaseException):
        console.print(f"[red]{name} failed:[/red] {escape(str(data))}")
        data = None
    elif state.is_failed():
        console.print(f"[red]{name} failed:[/red] {escape(str(state.message))}")
    run_id = state.state_details.flow_run_id
    if ui and run_id:
        console.print(f"Prefect run: {ui}/runs/flow-run/{run_id}")
    return ok, data


def _counts(title: str, counts: dict[str, int]) -> Table:
    table = Table(title=title)
    for key in counts:
        table.add_column(key, justify="right")
    table.add_row(*(str(v) for v in counts.values()))
    return table


@app.command("export")
def export_cmd(
    config: ConfigOption = DEFAULT_CONFIG,
    dry_run: Annotated[bool, typer.Option(help="Inventory only; write no blob")] = False,
) -> None:
    """Source tenant: inventory the registry and write the manifest to blob storage."""
    from acr_migrate.settings import ExportOptions

    cfg = _config(config)
    ok, summary = _run(
        "export",
        cfg,
        source=cfg.source,
        storage=cfg.storage,
        options=ExportOptions(dry_run=dry_run),
    )
    if summary is not None:
        console.print(
            f"Exported {summary.rows} rows ({summary.manifests} manifests, "
            f"{summary.repositories} repositories) from {summary.source}"
        )
        for note in summary.notes:
            console.print(f"[yellow]note:[/yellow] {escape(note)}")
        console.print(f"Manifest: {summary.url or '(dry run: not written)'}")
    raise typer.Exit(0 if ok else 1)


@app.command("import")
def import_cmd(
    config: ConfigOption = DEFAULT_CONFIG,
    manifest: ManifestOption = None,
    dry_run: Annotated[bool | None, typer.Option(help="Plan only; write nothing")] = None,
    force: Annotated[bool | None, typer.Option(help="Overwrite conflicting tags")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Images at once")] = None,
) -> None:
    """Target tenant: plan against the target, import every image, validate."""
    from acr_migrate.models import ImportResult, ImportStatus
    from flows.progress import subscribe

    cfg = _config(config)
    overrides = {
        k: v
        for k, v in {"dry_run": dry_run, "force": force, "concurrency": concurrency}.items()
        if v is not None
    }
    options = cfg.migration.model_copy(update=overrides)
    location = _location(cfg, manifest)
    with Progress(
        TextColumn("[bold]importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        bar = progress.add_task("import", total=None, last="")

        def on_result(result: ImportResult, done: int, total: int) -> None:
            mark = "[red]x[/red]" if result.status is ImportStatus.FAILED else "[green]✓[/green]"
            progress.update(bar, completed=done, total=total, last=f"{mark} {result.label}")

        unsubscribe = subscribe(on_result)
        try:
            ok, summary = _run(
                "import",
                cfg,
                source=cfg.source,
                target=cfg.target,
                storage=cfg.storage,
                manifest=location,
                options=options,
            )
        finally:
            unsubscribe()
    if summary is not None:
        console.print(_counts("plan (images)", summary.plan))
        if summary.referrers:
            console.print(f"referrers with their images: {summary.referrers}")
        if not summary.dry_run:
            console.print(_counts("results", summary.results))
            console.print(_counts("validation (rows)", summary.validation))
            _print_drift(summary.drift, summary.drift_lines, summary.source_note)
            console.print(f"Results: {summary.results_url}")
        for line in summary.failed:
            console.print(f"[red]failed:[/red] {escape(line)}")
        for line in summary.problems:
            console.print(f"[red]validation:[/red] {escape(line)}", soft_wrap=True)
    raise typer.Exit(0 if ok else 1)


@app.command("validate")
def validate_cmd(config: ConfigOption = DEFAULT_CONFIG, manifest: ManifestOption = None) -> None:
    """Target tenant: compare the target with the manifest, digest by digest."""
    cfg = _config(config)
    location = _location(cfg, manifest)
    ok, report = _run(
        "validate",
        cfg,
        source=cfg.source,
        target=cfg.target,
        storage=cfg.storage,
        manifest=location,
        options=cfg.migration,
    )
    if report is not None:
        console.print(_counts("validation (rows)", report.counts()))
        _print_drift(report.drift_counts(), report.drift_lines(20), report.source_note)
        for line in report.problem_lines(20):
            console.print(f"[red]{escape(line)}[/red]", soft_wrap=True)
    raise typer.Exit(0 if ok else 1)


def _print_drift(counts: dict[str, int], lines: list[str], source_note: str) -> None:
    """Drift in the source since the export: counted and listed, never a failure."""
    if source_note:
        console.print(f"drift: source not checked ({source_note})", soft_wrap=True)
        return
    if not counts:
        return
    console.print(_counts("drift in the source, not failures (rows)", counts))
    for line in lines:
        console.print(f"[yellow]drift:[/yellow] {line}", soft_wrap=True)


@app.command("provision")
def provision_cmd(
    config: ConfigOption = DEFAULT_CONFIG,
    manifest: ManifestOption = None,
    dry_run: Annotated[bool, typer.Option(help="Show what would be created")] = False,
) -> None:
    """Target tenant: create the new registry to match the documented source."""
    cfg = _config(config)
    location = _location(cfg, manifest)
    ok, report = _run(
        "provision",
        cfg,
        source=cfg.source,
        target=cfg.target,
        storage=cfg.storage,
        manifest=location,
        dry_run=dry_run,
    )
    if report is not None:
        verb = "would create" if report.dry_run else "created"
        state = "exists" if report.existed else verb
        console.print(f"Registry {report.registry}: {state}")
        for child in report.children_created:
            console.print(f"  {verb} {child}")
        for gap in report.gaps:
            console.print(f"[yellow]not mirrored:[/yellow] {escape(f'{gap.what}: {gap.action}')}")
    raise typer.Exit(0 if ok else 1)


@app.command("rewrite")
def rewrite_cmd(
    folder: Annotated[
        Path, typer.Argument(help="Folder of Kubernetes manifests / Helm values (YAML, recursive)")
    ],
    old: Annotated[str, typer.Option("--from", help="The old registry's login server")],
    new: Annotated[str, typer.Option("--to", help="The new registry's login server")],
    write: Annotated[
        bool, typer.Option("--write", help="Rewrite the files (default: only list what changes)")
    ] = False,
) -> None:
    """Point image references at the new registry: lists every reference to the old login
    server (file, line, reference); with --write, rewrites only the host part in place."""
    from acr_migrate.rewrite import rewrite_folder

    try:
        report = rewrite_folder(folder, old, new, write=write)
    except ConfigError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    for hit in report.hits:
        where = f"{hit.path}:{hit.line}"
        if hit.in_comment:
            line = f"{where}: {hit.reference} (in a comment: left as it is)"
        else:
            line = f"{where}: {hit.reference} -> {hit.rewritten}"
        console.print(line, soft_wrap=True, markup=False, highlight=False)
    for path, why in report.skipped:
        console.print(f"{path}: skipped ({why})", soft_wrap=True, markup=False, highlight=False)
    changes, files = len(report.changes), len(report.files_to_change())
    comments = len(report.hits) - changes
    kept = f"; {comments} in comments left as they are" if comments else ""
    if write:
        summary = f"rewrote {changes} reference(s) in {len(report.written)} file(s)"
    else:
        summary = f"{changes} reference(s) in {files} file(s) would be rewritten"
        if changes:
            kept += "; run again with --write to rewrite them"
    console.print(
        f"{summary} ({report.old} -> {report.new}, {report.files_scanned} YAML file(s) "
        f"scanned){kept}",
        soft_wrap=True,
        markup=False,
        highlight=False,
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
