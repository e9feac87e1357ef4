"""Drift: a tag that moves in the source after the export still lands with the exported digest
(both engines copy by digest; acr-import through the ARM stand-in), and validation reports the
source's changes since the export (moved, deleted) apart from failures.

The source is the sandbox's ACR (read through its data plane, the worker holding its identity
here), or the same registry as a plain OCI one (read with one HEAD per tag).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from acr_migrate.oci.client import RegistryClient
from acr_migrate.report import VALIDATION_COLUMNS
from acr_migrate.settings import EngineName, MigrationConfig
from acr_migrate.storage import BlobStore
from acr_migrate.validate import Check, Drift, ValidationReport
from flows.validate import validate
from sandbox.oci_push import Image, build_image, make_layer, push_image
from tests.helpers import push_endpoint, run_cli, run_export, run_import, uid

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server", "target_acr")]


@pytest.fixture(params=["acr"])
def cfg(request: pytest.FixtureRequest) -> MigrationConfig:
    """The sandbox as ACRs (``acr``) or as plain OCI registries (``oci``)."""
    name = "migration_config" if request.param == "acr" else "oci_config"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture
def pushed(cfg: MigrationConfig) -> Iterator[tuple[str, dict[str, Image]]]:
    """A repository of the shared source under a fresh prefix; every manifest pushed to it
    is deleted afterwards (other tests compare a full export of the source with the seed)."""
    prefix = f"drift-{uid()}"
    images: dict[str, Image] = {}
    yield prefix, images
    with RegistryClient(cfg.source) as source:
        for image in images.values():
            source.delete_manifest(f"{prefix}/app", image.digest)


def image(prefix: str, name: str) -> Image:
    return build_image([make_layer({name: f"{prefix}-{name}".encode() * 200})])


@pytest.mark.parametrize(
    ("cfg", "engine"),
    [("acr", EngineName.OCI_COPY), ("acr", EngineName.ACR_IMPORT), ("oci", EngineName.OCI_COPY)],
    indirect=["cfg"],
)
def test_a_tag_moved_after_the_export_lands_exported_and_validation_lists_the_drift(
    cfg: MigrationConfig,
    sandbox_config: Path,
    pushed: tuple[str, dict[str, Image]],
    engine: EngineName,
) -> None:
    prefix, images = pushed
    repo = f"{prefix}/app"
    source = push_endpoint(cfg.source)
    for name in ("exported", "later", "goes", "stays"):
        images[name] = image(prefix, name)
    push_image(source, repo, ["moves"], images["exported"])
    push_image(source, repo, ["goes"], images["goes"])
    push_image(source, repo, ["stays"], images["stays"])
    export = run_export(cfg, include=[f"{prefix}/*"])
    rows = BlobStore(cfg.storage).read_manifest(export.location.blob)
    assert {r.tag: r.digest for r in rows} == {
        "moves": images["exported"].digest,
        "goes": images["goes"].digest,
        "stays": images["stays"].digest,
    }

    # After the export, the tag moves in the source: another image under the same tag.
    push_image(source, repo, ["moves"], images["later"])
    with RegistryClient(cfg.source) as client:
        head = client.head_manifest(repo, "moves")
        assert head is not None and head.digest == images["later"].digest

    state, summary = run_import(cfg, export.location, engine=engine)
    assert state.is_completed(), state.message
    assert summary.results["imported"] == 3 and summary.results["failed"] == 0
    with RegistryClient(cfg.target) as target:
        moved = target.head_manifest(repo, "moves")
        assert moved is not None and moved.digest == images["exported"].digest
        assert target.head_manifest(repo, images["later"].digest) is None  # never copied
    # The import's own validation: the target matches, the moved tag is drift.
    assert summary.validation["ok"] == 3
    assert summary.validation["missing"] == summary.validation["mismatch"] == 0
    assert summary.drift == {"moved": 1, "deleted": 0} and summary.source_note == ""
    assert "drift (not failures): moved 1, deleted 0" in (state.message or "")

    # Then another tag is deleted in the source (its only manifest): drift too, not a failure.
    with RegistryClient(cfg.source) as client:
        assert client.delete_manifest(repo, images["goes"].digest)
    vstate = validate(
        cfg.source,
        cfg.target,
        cfg.storage,
        export.location,
        cfg.migration.model_copy(update={"engine": engine}),
        return_state=True,
    )
    assert vstate.is_completed(), vstate.message
    report = vstate.result()
    assert isinstance(report, ValidationReport) and report.ok
    assert report.counts()["ok"] == 3 and report.problems() == []
    assert report.drift_counts() == {"moved": 1, "deleted": 1}
    by_tag = {r.tag: r for r in report.rows}
    assert {t: r.drift for t, r in by_tag.items()} == {
        "moves": Drift.MOVED,
        "goes": Drift.DELETED,
        "stays": Drift.UNCHANGED,
    }
    assert {r.check for r in report.rows} == {Check.OK}
    lines = report.drift_lines()
    exported, later, goes = (images[n].digest for n in ("exported", "later", "goes"))
    assert any(
        f"{repo}:moves: moved in the source (exported {exported}, source now {later})" in line
        for line in lines
    ), lines
    assert any(
        f"{repo}:goes: deleted in the source (exported {goes}, source now nothing)" in line
        for line in lines
    ), lines
    assert "drift: moved 1, deleted 1" in (vstate.message or "")

    # The CSV next to the manifest carries the drift column.
    store = BlobStore(cfg.storage)
    blob = store.newest(export.location.sibling("validation-"), ".csv")
    assert blob is not None and report.url.endswith(blob)
    data, _ = store.get(blob)
    frame = pd.read_csv(io.BytesIO(data), keep_default_na=False, dtype=str)
    assert tuple(frame.columns) == VALIDATION_COLUMNS
    drift = dict(zip(frame["tag"], frame["drift"], strict=True))
    assert drift == {"moves": "moved", "goes": "deleted", "stays": "unchanged"}
    now = dict(zip(frame["tag"], frame["source_digest"], strict=True))
    assert now["moves"] == later and now["goes"] == ""

    if engine is not EngineName.OCI_COPY or cfg.source.azure is None:
        return  # the CLI's face of it once is enough (the sandbox config is the ACR one)

    done = run_cli("validate", "--config", str(sandbox_config), "--manifest", export.location.blob)
    assert done.returncode == 0, done.stdout + done.stderr
    out = " ".join(done.stdout.split())
    assert "drift in the source, not failures (rows)" in out, out
    assert f"drift: row 1: {repo}:goes: deleted in the source (exported {goes}" in out, out
    assert f"{repo}:moves: moved in the source (exported {exported}, source now {later})" in out


def test_a_source_that_cannot_be_read_is_not_checked_and_validation_still_passes(
    cfg: MigrationConfig, pushed: tuple[str, dict[str, Image]]
) -> None:
    prefix, images = pushed
    images["one"] = image(prefix, "one")
    push_image(push_endpoint(cfg.source), f"{prefix}/app", ["one"], images["one"])
    export = run_export(cfg, include=[f"{prefix}/*"])
    state, _ = run_import(cfg, export.location, engine=EngineName.OCI_COPY)
    assert state.is_completed(), state.message

    # The source is gone (as after the cutover): nothing answers at its address any more.
    gone = cfg.source.model_copy(update={"url": "https://127.0.0.1:9"})
    vstate = validate(
        gone, cfg.target, cfg.storage, export.location, cfg.migration, return_state=True
    )
    assert vstate.is_completed(), vstate.message
    report = vstate.result()
    assert report.ok and not report.source_checked
    assert "could not be read" in report.source_note
    assert {r.drift for r in report.rows} == {Drift.NOT_CHECKED}
    assert "source not checked for drift" in (vstate.message or "")

    off = cfg.migration.model_copy(update={"check_drift": False})
    vstate = validate(cfg.source, cfg.target, cfg.storage, export.location, off, return_state=True)
    assert vstate.is_completed(), vstate.message
    assert vstate.result().source_note == "check_drift is off"
