"""The whole migration over the sandbox: export -> blob manifest -> parallel import -> validate.

Flows run for real on Prefect's own server; digests are checked independently with skopeo.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from acr_migrate.manifest import read_manifest
from acr_migrate.models import RegistryEndpoint
from acr_migrate.oci.client import RegistryClient
from acr_migrate.settings import EngineName, MigrationConfig
from flows.validate import validate
from sandbox import api
from sandbox.fault_proxy import FaultProxy
from sandbox.oci_push import build_image, make_layer, push_image
from sandbox.seed import SeedSummary
from tests import helpers
from tests.helpers import push_endpoint, run_export, task_runs_of
from tests.leaks import Record, blob_records, find_leaks, leak_report, prefect_records

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server", "target_acr")]


def skopeo_digest(config_path: Path, endpoint: RegistryEndpoint, ref: str) -> str:
    """sha256 of the raw manifest as skopeo fetches it (independent of our client)."""
    root = config_path.parent
    raw = subprocess.run(
        [
            "skopeo",
            "inspect",
            "--raw",
            "--authfile",
            str(root / api.AUTH_NAME),
            "--cert-dir",
            str(root / "certs.d"),
            f"docker://{endpoint.login_server}/{ref}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def run_import(
    cfg: MigrationConfig,
    manifest: Any = None,
    target: RegistryEndpoint | None = None,
    **options: Any,
) -> tuple[Any, Any]:
    """These tests exercise oci-copy (through the ACR data planes)."""
    return helpers.run_import(cfg, manifest, target, engine=EngineName.OCI_COPY, **options)


def test_export_import_validate_then_idempotent(
    migration_config: MigrationConfig, sandbox_config: Path, seed_summary: SeedSummary
) -> None:
    cfg = migration_config
    # Only the seeded catalogue: other tests push their own repositories into the source.
    export = run_export(cfg, include=seed_summary.repositories)
    assert export.rows >= 30 and export.location is not None

    # The blob carries the metadata of the manifest contract and reads back clean.
    service = BlobServiceClient.from_connection_string(
        os.environ[cfg.storage.connection_string_env or ""]
    )
    blob = service.get_blob_client(export.location.container, export.location.blob)
    data = blob.download_blob().readall()
    metadata = blob.get_blob_properties().metadata
    rows = read_manifest(data, metadata)
    assert len(rows) == export.rows == int(metadata["row_count"])
    seeded_tags = {(i.repository, t): i.digest for i in seed_summary.images for t in i.tags}
    assert {(r.repository, r.tag): r.digest for r in rows if r.tag} == seeded_tags
    # The source is an ACR (data plane): untagged manifests are listed, not invented.
    seeded_untagged = {(i.repository, i.digest) for i in seed_summary.images if not i.tags}
    assert {(r.repository, r.digest) for r in rows if not r.tag} == seeded_untagged

    # Other tests (the acr-import path) may already have copied the catalogue: start clean.
    target = RegistryClient(cfg.target)
    for repository, digest in sorted({(r.repository, r.digest) for r in rows}):
        target.delete_manifest(repository, digest)
    unique = len({(r.repository, r.digest) for r in rows})

    state, summary = run_import(cfg, manifest=export.location)
    assert state.is_completed(), state.message
    assert summary.results["failed"] == 0
    assert summary.results["imported"] == summary.plan["import"] == unique >= 20
    assert summary.validation["missing"] == summary.validation["mismatch"] == 0

    # Every target digest equals the source digest, by skopeo on both sides.
    for row in rows:
        ref = f"{row.repository}:{row.tag}" if row.tag else f"{row.repository}@{row.digest}"
        assert skopeo_digest(sandbox_config, cfg.target, ref) == row.digest, ref
        assert skopeo_digest(sandbox_config, cfg.source, ref) == row.digest, ref

    # One named task run per image, Completed.
    runs = task_runs_of(state.state_details.flow_run_id)
    image_runs = {run.name: run for run, _ in runs if run.task_key.startswith("import_image")}
    assert len(image_runs) == summary.plan["import"]
    assert all(run.state_name == "Completed" for run in image_runs.values())
    first_tag = {}
    for r in rows:  # rows are sorted by tag within a repository, as the import names them
        label = f"{r.repository}:{r.tag}" if r.tag else f"{r.repository}@{r.digest[7:19]}"
        first_tag.setdefault((r.repository, r.digest), label)
    assert set(image_runs) == set(first_tag.values())

    # A second import imports nothing; validation still passes.
    state2, again = run_import(cfg, manifest=export.location)
    assert state2.is_completed()
    assert again.plan["import"] == 0 and again.results["imported"] == 0
    assert again.plan["skip"] == summary.plan["import"]

    vstate = validate(
        cfg.source, cfg.target, cfg.storage, export.location, cfg.migration, return_state=True
    )
    assert vstate.is_completed()
    assert vstate.result().counts()["ok"] == len(rows)


def _push_new(cfg: MigrationConfig, prefix: str, count: int) -> dict[str, str]:
    pushed = {}
    for n in range(count):
        image = build_image([make_layer({f"f{n}": f"{prefix}-{n}".encode() * 512})])
        repo = f"{prefix}/app{n % 3}"
        push_image(push_endpoint(cfg.source), repo, [f"v{n}"], image)
        pushed[f"{repo}:v{n}"] = image.digest
    return pushed


def test_dry_runs_write_nothing(migration_config: MigrationConfig) -> None:
    cfg = migration_config
    prefix = f"dry-{uuid.uuid4().hex[:6]}"
    pushed = _push_new(cfg, prefix, 3)
    dry_export = run_export(cfg, dry_run=True, include=[f"{prefix}/*"])
    assert dry_export.location is None and dry_export.rows == 3

    export = run_export(cfg, include=[f"{prefix}/*"])
    state, summary = run_import(cfg, manifest=export.location, dry_run=True)
    assert state.is_completed()
    assert summary.plan["import"] == 3 and summary.results["dry-run"] == 3
    target = RegistryClient(cfg.target)
    for ref in pushed:
        repo, tag = ref.split(":")
        assert target.head_manifest(repo, tag) is None, f"dry run wrote {ref}"


def test_429_storm_ends_with_every_image_imported_and_retries_visible(
    migration_config: MigrationConfig, fault_proxy: Callable[..., FaultProxy]
) -> None:
    cfg = migration_config
    prefix = f"storm-{uuid.uuid4().hex[:6]}"
    pushed = _push_new(cfg, prefix, 8)
    export = run_export(cfg, include=[f"{prefix}/*"])
    proxy = fault_proxy(cfg.target.url, burst=12, rate=0.05, retry_after=1, seed=7)
    via_proxy = cfg.target.model_copy(update={"url": proxy.url})
    state, summary = run_import(
        cfg,
        target=via_proxy,
        manifest=export.location,
        concurrency=4,
        retries=10,
        retry_delay_seconds=0.2,
    )
    assert proxy.counters["faults_injected"] >= 12
    assert state.is_completed(), state.message
    assert summary.results["imported"] == 8 and summary.results["failed"] == 0
    runs = task_runs_of(state.state_details.flow_run_id)
    image_runs = [(run, states) for run, states in runs if run.name in pushed]
    assert len(image_runs) == 8
    retried = [
        run for run, states in image_runs if "AwaitingRetry" in states or "Retrying" in states
    ]
    assert retried, "the 429s must show as AwaitingRetry/Retrying states of image task runs"
    assert all(run.state_name == "Completed" for run, _ in image_runs)
    assert any(run.run_count > 1 for run in retried)


def test_a_failed_image_does_not_stop_the_others(
    migration_config: MigrationConfig, fault_proxy: Callable[..., FaultProxy]
) -> None:
    cfg = migration_config
    prefix = f"fail-{uuid.uuid4().hex[:6]}"
    pushed = _push_new(cfg, prefix, 6)
    export = run_export(cfg, include=[f"{prefix}/*"])
    # Every write to app1 is refused (403): not transient, so no retry.
    proxy = fault_proxy(
        cfg.target.url,
        status=403,
        burst=0,
        rate=1.0,
        path_regex=f"^/v2/{prefix}/app1/",
        methods=["POST", "PUT", "PATCH"],
    )
    via_proxy = cfg.target.model_copy(update={"url": proxy.url})
    state, summary = run_import(cfg, target=via_proxy, manifest=export.location, concurrency=3)
    assert state.is_failed()
    failed_refs = [line.split(":")[0] + ":" + line.split(":")[1] for line in summary.failed]
    expected = sorted(ref for ref in pushed if "/app1:" in ref)
    assert sorted(failed_refs) == expected
    assert all("HTTP 403" in line for line in summary.failed)
    assert summary.results["imported"] == 4
    runs = task_runs_of(state.state_details.flow_run_id)
    failed_runs = [run for run, _ in runs if run.name in expected]
    assert failed_runs and all(r.run_count == 1 and r.state_name == "Failed" for r in failed_runs)


def test_no_secret_reaches_parameters_artifacts_or_reports(
    migration_config: MigrationConfig, sandbox_config: Path
) -> None:
    """Passwords and the storage key stay in the environment, never in what the server keeps
    of the runs (parameters, states, task runs, logs, artifacts, events) nor in the blobs."""
    from prefect.client.orchestration import get_client

    cfg = migration_config
    env = api.read_env_file(sandbox_config.parent / api.ENV_NAME)
    account_key = env[cfg.storage.connection_string_env or ""].split("AccountKey=")[1].split(";")[0]
    secrets = {
        "source password": env[cfg.source.password_env or ""],
        "target password": env[cfg.target.password_env or ""],
        "storage account key": account_key,
    }
    export = run_export(cfg)
    state, _ = run_import(cfg, manifest=export.location)

    async def kept() -> list[Record]:
        async with get_client() as client:
            return await prefect_records(client, [state.state_details.flow_run_id])

    records = asyncio.run(kept())
    service = BlobServiceClient.from_connection_string(env[cfg.storage.connection_string_env or ""])
    folder = export.location.folder if export.location else ""
    records += blob_records(service, cfg.storage.container, folder)
    text = b"".join(r.data for r in records)
    assert b"repository,tags,digest,status" in text  # real content
    assert any(r.kind == "artifact" for r in records)
    assert str(cfg.source.username).encode() in text
    leaks = find_leaks(records, secrets)
    assert not leaks, leak_report(leaks)
