"""``acr-migrate``: run the flows from a terminal, driven by one config file.

Flows are loaded by the same entrypoints ``prefect.yaml`` names, as a worker loads them, so
the core never imports Prefect code. Without ``PREFECT_API_URL`` Prefect runs them against a
temporary local server.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from acr_migrate.errors import MigrationError
from acr_migrate.models import ConfigError
from acr_migrate.settings import MigrationConfig, load_config

DEFAULT_CONFIG = Path(".sandbox/acr-migrate.toml")
ENTRYPOINTS = {
    "export": "flows.source_export:source_export",
    "import": "flows.target_import:target_import",
    "validate": "flows.validate:validate",
    "provision": "flows.provision:provision_registry",
}

app = typer.Typer(help="Move an Azure Container Registry to another tenant.", no_args_is_help=True)
sandbox_app = typer.Typer(help="The local stand-in for Azure (registries, blob storage).")
app.add_typer(sandbox_app, name="sandbox")
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
    # The temporary server Prefect starts without PREFECT_API_URL would try to send telemetry
    # and log an error on machines without internet; an explicit setting still wins.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    module, _, attribute = ENTRYPOINTS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def _config(path: Path) -> MigrationConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def _location(cfg: MigrationConfig, manifest: str | None) -> Any:
    """The manifest the user named, or None for the latest export."""
    from acr_migrate.storage import ManifestLocation

    return ManifestLocation(container=cfg.storage.container, blob=manifest) if manifest else None


def _where() -> None:
    api = os.environ.get("PREFECT_API_URL")
    if api:
        ui = os.environ.get("PREFECT_UI_URL") or api.removesuffix("/api")
        console.print(f"Prefect UI: {ui}")
    else:
        console.print("Prefect: temporary local server (set PREFECT_API_URL to keep the runs)")


def _run(name: str, **parameters: Any) -> tuple[bool, Any]:
    state = _flow(name)(**parameters, return_state=True)
    try:
        data = state.result(raise_on_failure=False)
    except MigrationError as exc:
        data = exc
    if isinstance(data, BaseException):
        console.print(f"[red]{name} failed:[/red] {data}")
        return False, None
    if state.is_failed():
        console.print(f"[red]{name} failed:[/red] {state.message}")
    return not state.is_failed(), data


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
        "export", source=cfg.source, storage=cfg.storage, options=ExportOptions(dry_run=dry_run)
    )
    if summary is not None:
        console.print(
            f"Exported {summary.rows} rows ({summary.manifests} manifests, "
            f"{summary.repositories} repositories) from {summary.source}"
        )
        for note in summary.notes:
            console.print(f"[yellow]note:[/yellow] {note}")
        console.print(f"Manifest: {summary.url or '(dry run: not written)'}")
    _where()
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
    from acr_migrate.progress import subscribe

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
        if not summary.dry_run:
            console.print(_counts("results", summary.results))
            console.print(_counts("validation (rows)", summary.validation))
            console.print(f"Results: {summary.results_url}")
        for line in summary.failed:
            console.print(f"[red]failed:[/red] {line}")
    _where()
    raise typer.Exit(0 if ok else 1)


@app.command("validate")
def validate_cmd(config: ConfigOption = DEFAULT_CONFIG, manifest: ManifestOption = None) -> None:
    """Target tenant: compare the target with the manifest, digest by digest."""
    cfg = _config(config)
    location = _location(cfg, manifest)
    ok, report = _run(
        "validate",
        source=cfg.source,
        target=cfg.target,
        storage=cfg.storage,
        manifest=location,
        options=cfg.migration,
    )
    if report is not None:
        console.print(_counts("validation (rows)", report.counts()))
        for row in report.problems()[:20]:
            console.print(
                f"[red]{row.check.value}:[/red] {row.repository}:{row.tag or row.expected_digest}"
            )
    _where()
    raise typer.Exit(0 if ok else 1)


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
            console.print(f"[yellow]not mirrored:[/yellow] {gap.what}: {gap.action}")
    _where()
    raise typer.Exit(0 if ok else 1)


@sandbox_app.command("up")
def sandbox_up(root: Annotated[Path | None, typer.Option(help="Data folder")] = None) -> None:
    """Start the source and target registries and Azurite; write the config file."""
    import sandbox.api

    path = sandbox.api.up(root)
    console.print(f"Sandbox is up. Config: {path}")


@sandbox_app.command("seed")
def sandbox_seed(
    config: ConfigOption = DEFAULT_CONFIG,
    images: Annotated[int, typer.Option(help="How many images to push")] = 36,
) -> None:
    """Push sample images (built in Python) into the source registry."""
    import sandbox.api

    summary = sandbox.api.seed(config, images=images)
    console.print(summary.format())


@sandbox_app.command("down")
def sandbox_down(root: Annotated[Path | None, typer.Option(help="Data folder")] = None) -> None:
    """Stop everything the sandbox started."""
    import sandbox.api

    sandbox.api.down(root)
    console.print("Sandbox is down.")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
