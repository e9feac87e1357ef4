"""Task wiring: the retry rule, names per image, and pure helpers (``task.fn`` where useful)."""

from __future__ import annotations

import time

from prefect.states import Failed

from acr_migrate.errors import RegistryHTTPError
from acr_migrate.models import ImportItem
from acr_migrate.oci.auth import parse_challenge
from acr_migrate.oci.inventory import platforms_of
from flows.artifacts import artifact_key
from tasks.import_image import import_image
from tasks.retry import retry_if_transient

D = "sha256:" + "c" * 64


def test_retry_rule_retries_only_transient_faults() -> None:
    assert retry_if_transient(None, None, Failed(data=RegistryHTTPError("PUT", "/v2/", 503)))
    assert retry_if_transient(None, None, Failed(data=ConnectionResetError()))
    assert not retry_if_transient(None, None, Failed(data=RegistryHTTPError("PUT", "/v2/", 403)))
    assert not retry_if_transient(None, None, Failed(data=ValueError("bad")))
    assert not retry_if_transient(None, None, Failed(message="no exception"))


def test_retry_rule_waits_for_retry_after() -> None:
    started = time.monotonic()
    assert retry_if_transient(
        None, None, Failed(data=RegistryHTTPError("GET", "/v2/", 429, retry_after=0.4))
    )
    assert time.monotonic() - started >= 0.4


def test_import_task_is_named_after_the_image_and_retries_by_the_rule() -> None:
    assert import_image.retry_condition_fn is retry_if_transient
    assert import_image.retries >= 1 and import_image.retry_jitter_factor
    assert (
        import_image.task_run_name.format(item=ImportItem(repository="a/b", digest=D, tags=("1",)))
        == "a/b:1"
    )
    untagged = ImportItem(repository="a/b", digest=D)
    assert import_image.task_run_name.format(item=untagged) == "a/b@cccccccccccc"


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
