"""Operating the flows: approvals (delete the source, force), Dask vs threads, dry-run reports.

Flows run for real over the sandbox on Prefect's own server (the session harness); the
approval tests answer the paused run's form through the API, as the UI does.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType

from acr_migrate.oci.client import RegistryClient
from acr_migrate.settings import CutoverOptions, ExportOptions, MigrationConfig
from acr_migrate.summaries import CutoverSummary, ImportSummary
from flows.approvals import ApprovalSettings
from flows.cutover import delete_source
from flows.runners import RunnerKind, TaskRunnerSettings
from flows.source_export import source_export
from sandbox.oci_push import build_image, make_layer, push_image
from tests import helpers
from tests.helpers import push_endpoint, uid

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]

#: The approval timeout of the "nobody answers" case (the test reads the pause from the run's
#: state history afterwards, so it races nothing).
NO_ANSWER_SECONDS = 10


def push_set(cfg: MigrationConfig, prefix: str, count: int, *, salt: str = "same") -> dict:
    """``count`` images under ``prefix/appN``; the same ``salt`` gives the same digests."""
    pushed = {}
    for n in range(count):
        image = build_image([make_layer({f"f{n}": f"{salt}-{n}".encode() * 256})])
        repo = f"{prefix}/app{n % 2}"
        tags = [f"v{n}"] + (["latest"] if n == count - 1 else [])
        push_image(push_endpoint(cfg.source), repo, tags, image)
        for tag in tags:
            pushed[f"{repo}:{tag}"] = image.digest
    return pushed


def export_state(cfg: MigrationConfig, prefix: str, **options: Any):
    state = source_export(
        cfg.source,
        cfg.storage,
        ExportOptions(include=[f"{prefix}/*"], **options),
        return_state=True,
    )
    assert state.is_completed(), state.message
    return state


def export(cfg: MigrationConfig, prefix: str, **options: Any):
    return export_state(cfg, prefix, **options).result()


def run_import(cfg: MigrationConfig, manifest: Any, **kwargs: Any) -> tuple[Any, ImportSummary]:
    options = kwargs.pop("options", {})
    return helpers.run_import(cfg, manifest, flow_args=kwargs, **options)


def in_thread(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Run ``fn`` in a thread; returns a function that joins it and gives its result."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def join() -> Any:
        thread.join(timeout=240)
        assert not thread.is_alive(), "flow did not finish"
        if "error" in out:
            raise out["error"]
        return out["value"]

    return join


def paused_run(flow_name: str, timeout: float = 120) -> Any:
    """The paused run of ``flow_name`` (waits for it)."""

    async def find() -> Any:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
                ),
            )
            return runs[0] if runs else None

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = asyncio.run(find())
        if run is not None:
            return run
        time.sleep(0.5)
    raise AssertionError(f"no paused {flow_name} run")


def paused_states(flow_run_id: Any) -> list[Any]:
    """The Paused states a flow run went through, oldest first."""

    async def read() -> list[Any]:
        async with get_client() as client:
            states = await client.read_flow_run_states(flow_run_id)
        return [s for s in states if s.type is StateType.PAUSED]

    return asyncio.run(read())


def form_description(run_or_state: Any) -> str:
    """The markdown shown with the form of a paused run (or of one of its Paused states)."""
    state = getattr(run_or_state, "state", None) or run_or_state
    keyset = state.state_details.run_input_keyset
    run_id = state.state_details.flow_run_id

    async def read() -> str:
        async with get_client() as client:
            return await client.read_flow_run_input(run_id, keyset["description"])

    return asyncio.run(read())


def answer(run: Any, **form: Any) -> None:
    async def resume() -> None:
        async with get_client() as client:
            await client.resume_flow_run(run.id, run_input=form)

    asyncio.run(resume())


def tags_of(client: RegistryClient, pushed: dict[str, str]) -> dict[str, list[str]]:
    repos = sorted({ref.split(":")[0] for ref in pushed})
    return {repo: sorted(client.tags(repo)) for repo in repos}


def test_delete_source_needs_validation_then_an_explicit_approval(
    oci_config: MigrationConfig,
) -> None:
    cfg = oci_config
    prefix = f"cut-{uid()}"
    pushed = push_set(cfg, prefix, 4, salt=prefix)
    exported = export(cfg, prefix)
    source = RegistryClient(cfg.source)
    before = tags_of(source, pushed)
    assert all(before.values())

    def cutover(timeout: int = 120) -> Any:
        return delete_source(
            cfg.source,
            cfg.storage,
            exported.location,
            CutoverOptions(include=[f"{prefix}/*"], approval_timeout_seconds=timeout),
            return_state=True,
        )

    # Not validated yet (nothing imported): refused before anything is asked.
    state = cutover()
    assert state.is_failed() and "not validated" in state.message
    assert tags_of(source, pushed) == before

    state, summary = run_import(cfg, exported.location)
    assert state.is_completed() and summary.validation["ok"] == len(pushed)

    # No answer: the time runs out, which means no. The run must really have paused and asked
    # first: read from the run's own state history afterwards, so no window is raced.
    state = cutover(timeout=NO_ANSWER_SECONDS)
    paused = paused_states(state.state_details.flow_run_id)
    assert len(paused) == 1, paused
    assert "Delete the source" in form_description(paused[0])
    result = state.result()
    assert isinstance(result, CutoverSummary)
    assert state.is_completed() and state.name == "NotApproved"
    assert not result.approved and "timeout" in result.decision
    assert tags_of(source, pushed) == before

    # Approved, but the registry name is not typed back: still no.
    join = in_thread(lambda: cutover())
    run = paused_run("delete-source")
    text = form_description(run)
    assert "Delete the source" in text and f"`{prefix}/app0`" in text
    assert "2 repositories" in text and f"{len(pushed)} tags" in text
    answer(run, approve=True, confirm_registry="wrong-name", comment="typo")
    state = join()
    assert state.name == "NotApproved" and not state.result().approved
    assert tags_of(source, pushed) == before

    # Approved with the name: every manifest of the two repositories is deleted.
    join = in_thread(lambda: cutover())
    run = paused_run("delete-source")
    answer(run, approve=True, confirm_registry=cfg.source.name, comment="cutover done")
    state = join()
    assert state.is_completed(), state.message
    result = state.result()
    assert result.approved and result.deleted >= 4 and not result.remaining
    assert tags_of(source, pushed) == {repo: [] for repo in before}
    # The target keeps everything.
    target = RegistryClient(cfg.target)
    for ref, digest in pushed.items():
        repo, tag = ref.split(":")
        head = target.head_manifest(repo, tag)
        assert head is not None and head.digest == digest


def test_force_waits_for_approval_and_a_refusal_keeps_the_conflicts(
    oci_config: MigrationConfig,
) -> None:
    cfg = oci_config
    prefix = f"force-{uid()}"
    pushed = push_set(cfg, prefix, 2, salt=prefix)
    # The target already holds one of the tags with another digest.
    ref = f"{prefix}/app0:v0"
    other = build_image([make_layer({"other": b"not the source's content" * 64})])
    push_image(push_endpoint(cfg.target), f"{prefix}/app0", ["v0"], other)
    exported = export(cfg, prefix)
    target = RegistryClient(cfg.target)
    ask = ApprovalSettings(ask=True, timeout_seconds=120)

    # Refused in the form: everything else imported, the conflict left alone.
    join = in_thread(
        lambda: run_import(cfg, exported.location, options={"force": True}, approval=ask)
    )
    run = paused_run("target-import")
    text = form_description(run)
    assert f"`{ref}`" in text and "Overwrite 1 tag" in text
    answer(run, approve=False, comment="not today")
    state, summary = join()
    assert summary.plan["conflict"] == 1
    assert summary.results["imported"] == len({d for d in pushed.values()}) - 1
    head = target.head_manifest(f"{prefix}/app0", "v0")
    assert head is not None and head.digest == other.digest

    # Approved: the tag now points at the source's digest.
    join = in_thread(
        lambda: run_import(cfg, exported.location, options={"force": True}, approval=ask)
    )
    answer(paused_run("target-import"), approve=True)
    state, summary = join()
    assert state.is_completed(), state.message
    assert summary.plan["conflict"] == 0 and summary.results["imported"] == 1
    head = target.head_manifest(f"{prefix}/app0", "v0")
    assert head is not None and head.digest == pushed[ref]


def test_dask_runner_gives_the_same_results_as_threads(oci_config: MigrationConfig) -> None:
    cfg = oci_config
    results = {}
    for kind in (RunnerKind.THREADS, RunnerKind.DASK):
        prefix = f"run-{kind.value}-{uid()}"
        push_set(cfg, prefix, 6)  # same content, same digests under both prefixes
        exported = export(cfg, prefix)
        state, summary = run_import(
            cfg,
            exported.location,
            options={"concurrency": 4},
            runner=TaskRunnerSettings(kind=kind, dask_workers=2),
        )
        assert state.is_completed(), state.message
        rows = state.result().results
        results[kind] = {
            "plan": summary.plan,
            "results": rows,
            "validation": summary.validation,
        }
    threads, dask = results[RunnerKind.THREADS], results[RunnerKind.DASK]
    assert threads == dask
    assert threads["results"]["imported"] == 6 and threads["validation"]["missing"] == 0


def test_export_dry_run_reports_new_moved_and_deleted_tags(
    oci_config: MigrationConfig,
) -> None:
    cfg = oci_config
    prefix = f"diff-{uid()}"
    source = push_endpoint(cfg.source)
    first = build_image([make_layer({"a": b"first" * 100})])
    second = build_image([make_layer({"b": b"second" * 100})])
    push_image(source, f"{prefix}/app", ["stays", "moves", "goes"], first)
    export(cfg, prefix)

    push_image(source, f"{prefix}/app", ["moves", "new"], second)
    client = RegistryClient(cfg.source)
    client.delete_manifest(f"{prefix}/app", first.digest)  # drops stays, goes
    push_image(source, f"{prefix}/app", ["stays"], first)  # stays is back, goes is gone
    state = export_state(cfg, prefix, dry_run=True)
    summary = state.result()
    assert summary.location is None
    assert summary.changes == {"new": 1, "moved": 1, "deleted": 1, "unchanged": 1}

    async def report() -> str:
        # Other tests write dry-run reports under the same key: read this run's own.
        async with get_client() as client:
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=[f"export-{cfg.source.name}-dry-run"]),
                    flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
                ),
            )
            assert len(artifacts) == 1, artifacts
            return str(artifacts[0].data)

    text = asyncio.run(report())
    assert f"`{prefix}/app:new`" in text and f"`{prefix}/app:goes`" in text
    assert f"`{prefix}/app:moves`" in text and "Moved (1)" in text


def test_the_global_limit_bounds_the_imports_and_is_left_as_the_operator_set_it(
    oci_config: MigrationConfig,
) -> None:
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    from tasks.limits import ensure_limit, limit_name

    cfg = oci_config
    prefix = f"knob-{uid()}"
    push_set(cfg, prefix, 6, salt=prefix)
    exported = export(cfg, prefix)
    name = limit_name(cfg.target)
    ensure_limit(name, 8)

    async def set_limit(value: int) -> None:
        async with get_client() as client:
            await client.update_global_concurrency_limit(
                name, GlobalConcurrencyLimitUpdate(limit=value)
            )

    async def active() -> int:
        async with get_client() as client:
            return int((await client.read_global_concurrency_limit_by_name(name)).active_slots)

    asyncio.run(set_limit(1))  # the operator lowers the knob
    try:
        done = threading.Event()
        out: dict[str, Any] = {}

        def go() -> None:
            try:
                out["value"] = run_import(cfg, exported.location, options={"concurrency": 4})
            finally:
                done.set()

        threading.Thread(target=go, daemon=True).start()
        seen = []
        while not done.wait(0.05):
            seen.append(asyncio.run(active()))
        state, summary = out["value"]
        assert state.is_completed(), state.message
        assert summary.results["imported"] == 6
        assert max(seen) == 1, seen  # 4 wanted at once, the knob allowed 1
        assert asyncio.run(active()) == 0  # every slot given back
        # A run never resets the knob to its own concurrency.
        assert ensure_limit(name, 4) == 1
    finally:
        asyncio.run(set_limit(8))


def test_slots_are_handed_on_in_process_and_lowering_the_knob_still_takes_effect() -> None:
    """Threads of one process pass slots between them, yet a lowered limit is obeyed."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    from tasks import limits

    name = f"acr-import-knob-{uid()}"
    assert limits.ensure_limit(name, 3) == 3
    lock = threading.Lock()
    holding = {"now": 0}
    seen: list[int] = []
    three = threading.Event()
    lowered: dict[str, int] = {}
    calls = {"increment": 0}

    class CountingLimits(limits.PrefectLimits):
        def increment(self, name: str, lease_seconds: float) -> Any:
            with lock:
                calls["increment"] += 1
            return super().increment(name, lease_seconds)

    pool = limits.SlotPool(CountingLimits())  # this process's slots, as it were

    def work(n: int) -> None:
        for _ in range(n):
            with pool.slot(name):
                with lock:
                    holding["now"] += 1
                    seen.append(holding["now"])
                    if holding["now"] == 3:
                        three.set()
                time.sleep(0.02)
                with lock:
                    holding["now"] -= 1

    threads = [threading.Thread(target=work, args=(40,)) for _ in range(6)]
    for t in threads:
        t.start()
    assert three.wait(120), "three slots were never held at once"
    with get_client(sync_client=True) as api_client:
        api_client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=1))
        # Event, not a settle window: once the server counts at most one slot taken, no
        # more can be taken (hand-overs pass a slot on, they never add one).
        while api_client.read_global_concurrency_limit_by_name(name).active_slots > 1:
            assert any(t.is_alive() for t in threads), "the work ended before the knob bit"
            time.sleep(0.05)
        with lock:
            lowered["index"] = len(seen)
    for t in threads:
        t.join(120)
    assert max(seen) == 3
    after = seen[lowered["index"] :]
    assert after and max(after) == 1, after
    # 240 slot uses; hand-overs spare most trips to the server.
    assert calls["increment"] < 240 / 2, calls
    with get_client(sync_client=True) as api_client:
        assert api_client.read_global_concurrency_limit_by_name(name).active_slots == 0


def test_a_second_process_gets_a_turn_while_the_first_hands_slots_on() -> None:
    """Hand-overs stop after HANDOVER_SECONDS, so another run into the target is not starved."""
    from tasks import limits

    name = f"acr-import-share-{uid()}"
    limits.ensure_limit(name, 2)
    # two worker processes, as it were
    first, second = limits.SlotPool(limits.PrefectLimits()), limits.SlotPool(limits.PrefectLimits())
    stop = threading.Event()
    both_held = threading.Event()  # the first process holds the whole limit
    lock = threading.Lock()
    held = {"now": 0}

    def busy() -> None:
        while not stop.is_set():
            lease = first.acquire(name)
            with lock:
                held["now"] += 1
                if held["now"] == 2:
                    both_held.set()
            time.sleep(0.01)
            with lock:
                held["now"] -= 1
            first.release(name, lease)

    threads = [threading.Thread(target=busy) for _ in range(4)]
    for t in threads:
        t.start()
    got = threading.Event()

    def turn() -> None:
        lease = second.acquire(name)
        got.set()
        second.release(name, lease)

    waiter = threading.Thread(target=turn)
    try:
        assert both_held.wait(120), "the first process never held both slots"
        waiter.start()
        # Without the hand-over cap it would wait forever; the bound only stops a hung test.
        bound = 24 * limits.HANDOVER_SECONDS
        assert got.wait(bound), f"the second process waited more than {bound} s"
        assert any(t.is_alive() for t in threads)  # the first run was still busy
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        if waiter.is_alive():
            waiter.join(60)
