"""A bad manifest blob in Azurite stops the import before anything is written to the target.

The import flow (and the CLI on top of it) gets one error naming the blob, the row and the
column; the target's inventory is the same before and after.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from acr_migrate.manifest import ManifestError
from acr_migrate.oci.client import RegistryClient
from acr_migrate.settings import EngineName, MigrationConfig
from acr_migrate.storage import MANIFEST_NAME, BlobStore, ManifestLocation
from flows.target_import import target_import
from sandbox.oci_push import build_image, make_layer, push_image
from tests.data.manifests.corpus import Case, cases
from tests.helpers import push_endpoint, run_cli, run_export, uid

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server", "target_acr")]

#: The bad cases of the corpus (tests/data/manifests/index.toml).
BAD = [c for c in cases() if c.error is not None]


def target_inventory(cfg: MigrationConfig, prefix: str) -> dict[str, Any]:
    """Every repository and tag of the target; digests of every tag under ``prefix``."""
    with RegistryClient(cfg.target) as client:
        tags = {repo: sorted(client.tags(repo)) for repo in client.catalog()}
        digests = {}
        for repo, names in tags.items():
            if repo.startswith(prefix):
                for tag in names:
                    head = client.head_manifest(repo, tag)
                    digests[f"{repo}:{tag}"] = head.digest if head else None
    return {"tags": tags, "digests": digests}


def import_state(cfg: MigrationConfig, location: ManifestLocation) -> Any:
    options = cfg.migration.model_copy(update={"engine": EngineName.OCI_COPY})
    return target_import(cfg.source, cfg.target, cfg.storage, location, options, return_state=True)


@pytest.fixture
def tampered(migration_config: MigrationConfig) -> tuple[ManifestLocation, str, dict[str, str]]:
    """A real export of two images in one repository, copied next to it with the tags'
    digests swapped and the original metadata: every row still valid, the bytes changed."""
    cfg = migration_config
    prefix = f"tamper-{uid()}"
    pushed = {}
    for n in range(2):
        image = build_image([make_layer({f"f{n}": f"{prefix}-{n}".encode() * 300})])
        push_image(push_endpoint(cfg.source), f"{prefix}/app", [f"v{n}"], image)
        pushed[f"v{n}"] = image.digest
    export = run_export(cfg, include=[f"{prefix}/*"])
    store = BlobStore(cfg.storage)
    data, metadata = store.get(export.location.blob)
    swapped = (
        data.replace(pushed["v0"].encode(), b"@@")
        .replace(pushed["v1"].encode(), pushed["v0"].encode())
        .replace(b"@@", pushed["v1"].encode())
    )
    assert swapped != data and len(swapped) == len(data)
    # Outside the source's folder, so it never becomes anyone's "latest" export.
    blob = f"tampered-{uid()}/{MANIFEST_NAME}"
    store.put(blob, swapped, content_type="text/csv", metadata=metadata)
    return ManifestLocation(container=cfg.storage.container, blob=blob), prefix, pushed


def test_a_tampered_manifest_blob_is_refused_and_the_target_is_untouched(
    migration_config: MigrationConfig, tampered: tuple[ManifestLocation, str, dict[str, str]]
) -> None:
    cfg = migration_config
    location, prefix, _ = tampered
    before = target_inventory(cfg, prefix)
    state = import_state(cfg, location)
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, ManifestError), error
    assert str(error).startswith(f"manifest {cfg.storage.container}/{location.blob}: ")
    assert "the file was changed or truncated after export" in str(error)
    assert target_inventory(cfg, prefix) == before
    assert not any(repo.startswith(prefix) for repo in before["tags"])


def test_the_cli_exits_non_zero_naming_the_blob(
    migration_config: MigrationConfig,
    sandbox_config: Path,
    tampered: tuple[ManifestLocation, str, dict[str, str]],
) -> None:

    cfg = migration_config
    location, prefix, _ = tampered
    before = target_inventory(cfg, prefix)
    done = run_cli("import", "--config", str(sandbox_config), "--manifest", location.blob)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert f"import failed: manifest {cfg.storage.container}/{location.blob}: " in out, out
    assert "changed or truncated after export" in out
    # One clear error: Prefect's own log lines of it on stderr carry no traceback either.
    assert "Traceback" not in out + done.stderr, done.stderr
    assert target_inventory(cfg, prefix) == before


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_every_bad_manifest_stops_the_cli_import_and_leaves_the_target_untouched(
    migration_config: MigrationConfig,
    sandbox_config: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: Case,
) -> None:
    """Each case of the corpus as a blob in Azurite, imported with ``acr-migrate import
    --manifest``: exit 1 and one error naming the blob, the row and the column, and the
    target's inventory the same before and after."""
    from prefect.settings import PREFECT_API_URL
    from typer.testing import CliRunner

    from acr_migrate.cli import app, console

    cfg = migration_config
    store = BlobStore(cfg.storage)
    store.ensure_container()
    blob = f"corpus-{uid()}/{MANIFEST_NAME}"
    store.put(blob, case.data, content_type="text/csv", metadata=case.metadata)
    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))
    monkeypatch.setattr(console, "width", 2000)  # one line per message, as COLUMNS=2000
    before = target_inventory(cfg, "team-a/")
    done = CliRunner().invoke(
        app, ["import", "--config", str(sandbox_config), "--manifest", blob], catch_exceptions=True
    )
    # A crash is exit 1 too: it must be the command's own exit.
    assert isinstance(done.exception, SystemExit), done.exception
    assert done.exit_code == 1, done.output
    out = " ".join(done.output.split())
    failed = [line for line in done.output.splitlines() if line.startswith("import failed:")]
    assert len(failed) == 1, done.output
    assert failed[0].startswith(f"import failed: manifest {cfg.storage.container}/{blob}: ")
    assert case.error is not None and case.error in out, out
    if case.row is not None:
        assert f"row {case.row}" in failed[0], failed[0]
    if case.column is not None:
        assert f"column {case.column!r}" in failed[0], failed[0]
    assert "Traceback" not in done.output
    assert target_inventory(cfg, "team-a/") == before


def test_a_digest_changed_with_its_checksum_recomputed_is_named_row_and_image_at_the_terminal(
    migration_config: MigrationConfig, sandbox_config: Path
) -> None:
    """Every check of the blob passes (the metadata was recomputed), so the import runs: the
    changed row cannot land, and the terminal names its manifest row and its image."""

    from acr_migrate.manifest import manifest_metadata, read_manifest, write_manifest

    cfg = migration_config
    prefix = f"redigest-{uid()}"
    for n in range(2):
        image = build_image([make_layer({f"f{n}": f"{prefix}-{n}".encode() * 300})])
        push_image(push_endpoint(cfg.source), f"{prefix}/app", [f"v{n}"], image)
    export = run_export(cfg, include=[f"{prefix}/*"])
    store = BlobStore(cfg.storage)
    data, metadata = store.get(export.location.blob)
    rows = read_manifest(data)
    changed = next(n for n, r in enumerate(rows) if r.tag == "v1")
    forged = "sha256:" + "e" * 64
    rows[changed] = rows[changed].model_copy(update={"digest": forged})
    data = write_manifest(rows)
    metadata = manifest_metadata(
        data,
        metadata["source_registry"],
        row_count=len(rows),
        exported_at=datetime.fromisoformat(metadata["exported_at"].replace("Z", "+00:00")),
    )
    blob = f"redigest-{uid()}/{MANIFEST_NAME}"
    store.put(blob, data, content_type="text/csv", metadata=metadata)
    done = run_cli("import", "--config", str(sandbox_config), "--manifest", blob)
    assert done.returncode == 1, done.stdout + done.stderr
    out = " ".join(done.stdout.split())
    assert f"validation: row {changed + 1}: {prefix}/app:v1: missing (expected {forged}" in out, out
    assert f"{prefix}/app:v0" not in out.split("validation:", 1)[-1]
