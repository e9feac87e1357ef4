"""Small helpers shared by the integration and end-to-end tests."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from acr_migrate.models import RegistryEndpoint
from acr_migrate.settings import ExportOptions, MigrationConfig
from sandbox.oci_push import Endpoint


def uid() -> str:
    """A short unique suffix, so tests sharing one sandbox never collide."""
    return uuid.uuid4().hex[:8]


def push_endpoint(endpoint: RegistryEndpoint) -> Endpoint:
    """The sandbox pusher's view of a product endpoint (password read from the env)."""
    password = endpoint.password()
    assert password is not None
    return Endpoint(
        url=endpoint.url,
        username=endpoint.username,
        password=password.get_secret_value(),
        ca_bundle=Path(endpoint.ca_bundle or ""),
    )


def run_export(cfg: MigrationConfig, **options: Any) -> Any:
    """Run the source-export flow; it must complete. Returns its summary."""
    from flows.source_export import source_export

    state = source_export(cfg.source, cfg.storage, ExportOptions(**options), return_state=True)
    assert state.is_completed(), state.message
    return state.result()


def run_import(
    cfg: MigrationConfig,
    manifest: Any = None,
    target: RegistryEndpoint | None = None,
    flow_args: dict[str, Any] | None = None,
    source: RegistryEndpoint | None = None,
    **options: Any,
) -> tuple[Any, Any]:
    """Run the target-import flow with ``options`` over the config's (and further flow
    parameters ``flow_args``, e.g. ``approval``, ``runner``); returns (state, summary)."""
    from acr_migrate.summaries import ImportSummary
    from flows.target_import import target_import

    state = target_import(
        source or cfg.source,
        target or cfg.target,
        cfg.storage,
        manifest,
        cfg.migration.model_copy(update=options),
        return_state=True,
        **(flow_args or {}),
    )
    summary = state.result(raise_on_failure=False)
    assert isinstance(summary, ImportSummary), (state.message, summary)
    return state, summary


def task_runs_of(flow_run_id: Any) -> list[tuple[Any, list[str]]]:
    """Every task run of a flow run with the names of the states it went through."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read() -> list[tuple[Any, list[str]]]:
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            return [
                (run, [s.name or s.type.value for s in await client.read_task_run_states(run.id)])
                for run in runs
            ]

    return asyncio.run(read())
