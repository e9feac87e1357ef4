"""The demo's migration, run the way the Prefect UI runs it: through the deployments and workers.

``source-export`` -> the dry-run ``target-import`` its event starts -> ``provision-target`` ->
``target-import`` -> ``validate``. Each run is created from its deployment (as the Run button
does), waited for, and printed with its final state, its message and its link in the UI.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RUN_TIMEOUT = 1800.0
TRIGGER_TIMEOUT = 180.0


@dataclass
class DemoRun:
    """One flow run of the demo, as the UI shows it."""

    step: str
    deployment: str
    id: UUID
    name: str
    state: str
    message: str
    url: str

    @property
    def ok(self) -> bool:
        return self.state == "Completed"


class Demo:
    """Creates flow runs from deployments on ``api_url`` and waits for them."""

    def __init__(self, api_url: str, ui_url: str | None = None, say: Callable[[str], None] = print):
        self.api_url = api_url
        self.ui_url = (ui_url or api_url.removesuffix("/api")).rstrip("/")
        self.say = say

    def call(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        """``await fn(client)`` with a client of this server."""
        from prefect.client.orchestration import PrefectClient

        async def go() -> Any:
            async with PrefectClient(api=self.api_url) as client:
                return await fn(client)

        return asyncio.run(go())

    def link(self, run_id: UUID) -> str:
        return f"{self.ui_url}/runs/flow-run/{run_id}"

    def wait(
        self, step: str, deployment: str, run_id: UUID, timeout: float = RUN_TIMEOUT
    ) -> DemoRun:
        """Wait until the run is final; return it as a :class:`DemoRun` and print one line."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.call(lambda c: c.read_flow_run(run_id))
            if run.state is not None and run.state.type.value in FINAL:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{deployment} run {run.name} still {run.state_name}")
            time.sleep(1)
        done = DemoRun(
            step=step,
            deployment=deployment,
            id=run.id,
            name=run.name,
            state=run.state_name or "",
            message=(run.state.message or "") if run.state else "",
            url=self.link(run.id),
        )
        mark = "ok " if done.ok else "ERR"
        self.say(f"[{mark}] {step:<22} {done.state:<10} {done.message}")
        return done

    def run(self, step: str, deployment: str, parameters: dict[str, Any] | None = None) -> DemoRun:
        """Start a run of ``deployment`` (``flow/deployment``) and wait for it."""
        return self.wait(step, deployment, self.start(step, deployment, parameters).id)

    def start(self, step: str, deployment: str, parameters: dict[str, Any] | None = None) -> Any:
        """Create a run of ``deployment`` (as the Run button does) and print its link."""

        async def create(client: Any) -> Any:
            found = await client.read_deployment_by_name(deployment)
            return await client.create_flow_run_from_deployment(
                found.id, parameters=parameters or {}
            )

        run = self.call(create)
        self.say(f"      {step:<22} started: {self.link(run.id)}")
        return run

    def triggered_run(self, deployment: str, since: datetime, blob_prefix: str) -> UUID:
        """The run of ``deployment`` that an event started after ``since`` for a manifest under
        ``blob_prefix`` (the export -> dry-run import hand-over)."""
        from prefect.client.schemas.filters import (
            DeploymentFilter,
            DeploymentFilterId,
            FlowRunFilter,
            FlowRunFilterExpectedStartTime,
        )

        async def find(client: Any) -> list[Any]:
            found = await client.read_deployment_by_name(deployment)
            return list(
                await client.read_flow_runs(
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[found.id])),
                    flow_run_filter=FlowRunFilter(
                        expected_start_time=FlowRunFilterExpectedStartTime(after_=since)  # type: ignore[arg-type]
                    ),
                )
            )

        deadline = time.monotonic() + TRIGGER_TIMEOUT
        while True:
            for run in self.call(find):
                blob = ((run.parameters or {}).get("manifest") or {}).get("blob") or ""
                if blob.startswith(blob_prefix):
                    return UUID(str(run.id))
            if time.monotonic() > deadline:
                raise TimeoutError(f"no run of {deployment} was started by the export's event")
            time.sleep(1)


def run_demo(
    api_url: str,
    source_name: str,
    ui_url: str | None = None,
    say: Callable[[str], None] = print,
) -> list[DemoRun]:
    """The demo's five runs, in order; stops at the first that does not complete."""
    demo = Demo(api_url, ui_url, say)
    runs: list[DemoRun] = []
    since = datetime.now(UTC)
    export = demo.run("export (source)", "source-export/source-export")
    runs.append(export)
    if not export.ok:
        return runs
    triggered = demo.triggered_run("target-import/target-import", since, f"{source_name}/")
    runs.append(demo.wait("dry-run import (event)", "target-import/target-import", triggered))
    for step, deployment in (
        ("provision (target)", "provision-target/provision-target"),
        ("import (target)", "target-import/target-import"),
        ("validate (target)", "validate/validate"),
    ):
        runs.append(demo.run(step, deployment))
        if not runs[-1].ok:
            break
    return runs


#: What a person answers in the UI during the cutover demo, per paused flow.
APPROVALS: dict[str, dict[str, Any]] = {
    "migrate-registry": {"approve": True, "comment": "demo: freeze and migrate"},
    "delete-source": {"approve": True, "comment": "demo: cutover"},
}


def run_cutover_demo(
    api_url: str,
    source_name: str,
    ui_url: str | None = None,
    say: Callable[[str], None] = print,
    timeout: float = RUN_TIMEOUT,
) -> DemoRun:
    """The whole runbook (``migrate-registry`` through the deployments), answering its two
    approval forms through the API as a person would in the UI; ends with the source deleted."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    demo = Demo(api_url, ui_url, say)
    parameters = {"options": {"mode": "deployments", "freeze": True, "delete_source": True}}

    run = demo.start("runbook", "migrate-registry/migrate-registry", parameters)
    answered: set[UUID] = set()

    async def paused(client: Any) -> list[Any]:
        only = FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
        return list(await client.read_flow_runs(flow_run_filter=FlowRunFilter(state=only)))

    deadline = time.monotonic() + timeout
    while True:
        current = demo.call(lambda c: c.read_flow_run(run.id))
        if current.state is not None and current.state.type.value in FINAL:
            break
        for waiting in demo.call(paused):
            flow = demo.call(_reader(waiting.flow_id))
            form = APPROVALS.get(flow.name)
            if form is None or waiting.id in answered:
                continue
            if flow.name == "delete-source":
                form = {**form, "confirm_registry": source_name}
            say(f"      approve {flow.name:<14} (as a person would in the UI)")
            demo.call(_resumer(waiting.id, form))
            answered.add(waiting.id)
        if time.monotonic() > deadline:
            raise TimeoutError(f"runbook run {run.name} still {current.state_name}")
        time.sleep(2)
    return demo.wait("runbook", "migrate-registry/migrate-registry", run.id)


def _reader(flow_id: UUID) -> Callable[[Any], Awaitable[Any]]:
    return lambda client: client.read_flow(flow_id)


def _resumer(run_id: UUID, form: dict[str, Any]) -> Callable[[Any], Awaitable[Any]]:
    return lambda client: client.resume_flow_run(run_id, run_input=form)
