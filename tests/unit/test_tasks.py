"""Task wiring: the retry rule, names per image, and pure helpers (``task.fn`` where useful)."""

from __future__ import annotations

import httpx
import pytest
from prefect.states import Failed

from acr_migrate.errors import RegistryHTTPError
from acr_migrate.models import ImportItem, RegistryEndpoint
from acr_migrate.oci.auth import parse_challenge
from acr_migrate.oci.inventory import platforms_of
from flows.artifacts import artifact_key
from tasks.import_image import import_image
from tasks.retry import MAX_RETRY_AFTER, retry_if_transient

D = "sha256:" + "c" * 64


def test_retry_rule_retries_only_transient_faults() -> None:
    assert retry_if_transient(None, None, Failed(data=RegistryHTTPError("PUT", "/v2/", 503)))
    assert retry_if_transient(None, None, Failed(data=ConnectionResetError()))
    assert not retry_if_transient(None, None, Failed(data=RegistryHTTPError("PUT", "/v2/", 403)))
    assert not retry_if_transient(None, None, Failed(data=ValueError("bad")))
    assert not retry_if_transient(None, None, Failed(message="no exception"))


def test_retry_rule_waits_for_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wait the rule asks for, not a clock: Retry-After as sent, capped at the most we
    honour; none without the header. (End to end: tests/e2e/test_bites_retry_after.py.)"""
    asked: list[float] = []
    monkeypatch.setattr("tasks.retry.time.sleep", asked.append)
    for retry_after in (0.4, 10_000.0):
        failed = Failed(data=RegistryHTTPError("GET", "/v2/", 429, retry_after=retry_after))
        assert retry_if_transient(None, None, failed)
    assert retry_if_transient(None, None, Failed(data=RegistryHTTPError("GET", "/v2/", 503)))
    assert asked == [0.4, MAX_RETRY_AFTER]


def test_import_task_is_named_after_the_image_and_retries_by_the_rule() -> None:
    """The task as ``target_import`` configures it (``with_options``), judged by Prefect's own
    engine: the run name it renders from the flow's parameters, and whether it retries."""
    from prefect._internal.engine import resolve_custom_task_run_name
    from prefect.client.schemas.objects import TaskRun
    from prefect.task_engine import SyncTaskRunEngine

    task = import_image.with_options(retries=2, retry_delay_seconds=[0, 0])
    endpoint = RegistryEndpoint(name="t", url="https://t.example")
    flow_parameters = {
        "source": endpoint,
        "target": endpoint,
        "engine": "oci-copy",
        "force": False,
        "concurrency": 4,
        "limit": "acr-import-t",
        "max_per_second": 0.0,
    }

    def run_name(item: ImportItem) -> str:
        return resolve_custom_task_run_name(task, {"item": item, **flow_parameters})

    assert run_name(ImportItem(repository="a/b", digest=D, tags=("1", "latest"))) == "a/b:1"
    assert run_name(ImportItem(repository="a/b", digest=D)) == "a/b@cccccccccccc"

    engine = SyncTaskRunEngine(
        task=task, parameters={"item": ImportItem(repository="a/b", digest=D)}
    )
    engine.task_run = TaskRun(task_key="import-image", dynamic_key="0", name="a/b@cccccccccccc")
    # Retried: throttling, passing server faults, a dropped connection.
    assert engine.can_retry(RegistryHTTPError("PUT", "/v2/a/b/manifests/1", 503))
    assert engine.can_retry(RegistryHTTPError("GET", "/v2/a/b/manifests/1", 429))
    assert engine.can_retry(httpx.ConnectError("connection refused"))
    # Not retried (Prefect retries everything when a task has no condition).
    assert not engine.can_retry(RegistryHTTPError("PUT", "/v2/a/b/manifests/1", 403))
    assert not engine.can_retry(RegistryHTTPError("GET", "/v2/a/b/manifests/1", 404))
    assert not engine.can_retry(ValueError("unknown engine 'nope'"))


def test_platforms_of_an_index_skip_attestations() -> None:
    index = {
        "manifests": [
            {"platform": {"os": "linux", "architecture": "amd64"}},
            {"platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
            {"platform": {"os": "unknown", "architecture": "unknown"}},
        ]
    }
    assert platforms_of(index) == "linux/amd64;linux/arm/v7"


def test_parse_challenge() -> None:
    c = parse_challenge('Bearer realm="https://t/token",service="reg",scope="repository:a:pull"')
    assert c.scheme == "bearer" and c.params["service"] == "reg"
    assert parse_challenge('Basic realm="registry"').scheme == "basic"


def test_artifact_keys_are_what_prefect_accepts() -> None:
    assert artifact_key("manifest", "My_Registry.azurecr.io") == "manifest-my-registry-azurecr-io"
