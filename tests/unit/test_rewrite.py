"""Image references moved to the new registry in Kubernetes manifests and Helm values: every
reference found with file, line and reference; only the host changes (tags, digests, split
repository/tag values kept); comments, quoting and line ends untouched; files without a
reference never written; look-alike hosts left alone; a rerun changes nothing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from acr_migrate.cli import app
from acr_migrate.models import ConfigError
from acr_migrate.rewrite import login_server, rewrite_folder, rewrite_text

DATA = Path(__file__).resolve().parents[1] / "data" / "rewrite"
OLD, NEW = "contosoprod.azurecr.io", "contosonew.azurecr.io"
DIGEST = "sha256:4b0a5e8c1f9d2e3a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a"
#: (file, line, reference, in a comment) of every reference in tests/data/rewrite.
EXPECTED = [
    ("charts/worker/values.yml", 3, f"{OLD}/shop/worker", False),
    ("deployment.yaml", 2, OLD, True),
    ("deployment.yaml", 15, f"{OLD}/shop/migrate@{DIGEST}", False),
    ("deployment.yaml", 18, f"{OLD}/shop/web:3.2.1", False),
    ("deployment.yaml", 23, "ContosoProd.azurecr.io/platform/fluent-bit:3.1", False),
    ("deployment.yaml", 24, f"{OLD}/platform/probe:1", False),
    ("deployment.yaml", 41, f"{OLD}/shop/web:3.2.1", False),  # inside a block scalar
    ("deployment.yaml", 42, f"{OLD}/shop/api:1.0", False),  # a "#" there is text, not YAML's
    ("deployment.yaml", 43, f"{OLD}/shop/old:1", True),
    ("values.yaml", 5, f"{OLD}/shop/web", False),  # repository; the tag is its own value
    ("values.yaml", 11, OLD, False),  # image.registry alone
    ("values.yaml", 17, f"{OLD}/shop/migrate@{DIGEST}", False),
    ("values.yaml", 20, f"{OLD}/platform/probe:1", False),  # flow style
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    copy = tmp_path / "manifests"
    shutil.copytree(DATA, copy)
    return copy


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


_OLD_HOST = re.compile(r"(?<![\w.\-@])contosoprod\.azurecr\.io(?![\w.\-]|:\d)", re.IGNORECASE)


def _swap(value: Any) -> Any:
    """``value`` (parsed YAML, so without its comments) with the old host of every reference
    replaced: what the rewritten file must parse to."""
    if isinstance(value, dict):
        return {k: _swap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap(v) for v in value]
    return _OLD_HOST.sub(NEW, value) if isinstance(value, str) else value


def test_a_dry_run_reports_every_reference_and_writes_nothing(folder: Path) -> None:
    before = _snapshot(folder)
    report = rewrite_folder(folder, OLD, NEW)
    assert [(h.path, h.line, h.reference, h.in_comment) for h in report.hits] == EXPECTED
    assert report.files_scanned == 4 and report.skipped == [] and report.written == []
    assert report.files_to_change() == [
        "charts/worker/values.yml",
        "deployment.yaml",
        "values.yaml",
    ]
    for hit in report.hits:
        assert hit.rewritten == NEW + hit.reference[len(OLD) :]
        line = (folder / hit.path).read_text().split("\n")[hit.line - 1]
        assert line[hit.column - 1 :].startswith(hit.reference)
    assert _snapshot(folder) == before


def test_write_changes_only_the_host_and_keeps_everything_else(folder: Path) -> None:
    before = _snapshot(folder)
    originals = {name: data.decode() for name, (data, _) in before.items()}
    report = rewrite_folder(folder, f"https://{OLD}/", NEW, write=True)
    assert report.written == ["charts/worker/values.yml", "deployment.yaml", "values.yaml"]
    after = _snapshot(folder)
    # No hit, no write: the same bytes and the same modification time.
    for untouched in ("service.yaml", "README.md"):
        assert after[untouched] == before[untouched]

    deployment = (folder / "deployment.yaml").read_text().split("\n")
    old_deployment = originals["deployment.yaml"].split("\n")
    changed = {
        n + 1 for n, (a, b) in enumerate(zip(old_deployment, deployment, strict=True)) if a != b
    }
    assert changed == {15, 18, 23, 24, 41, 42}  # nothing else moved, comments included
    assert deployment[1] == old_deployment[1]  # the comment naming the old registry stays
    assert deployment[14] == f"          image: {NEW}/shop/migrate@{DIGEST}"
    assert deployment[17] == f"          image: {NEW}/shop/web:3.2.1   # pinned for the release"
    assert deployment[22] == f"          image: '{NEW}/platform/fluent-bit:3.1'"
    assert deployment[23] == (f'          args: ["--image", "{NEW}/platform/probe:1", "--verbose"]')
    assert deployment[25:31] == old_deployment[25:31]  # look-alike hosts are other registries
    assert deployment[40] == f"    crictl pull {NEW}/shop/web:3.2.1"
    assert deployment[41] == (
        f"    # and, once the API is migrated: crictl pull {NEW}/shop/api:1.0"
    )  # the script's own text
    assert deployment[42] == old_deployment[42]  # a reference in a comment is left as it is

    values = (folder / "values.yaml").read_text().split("\n")
    assert values[4] == f"  repository: {NEW}/shop/web"
    assert values[5] == '  tag: "3.2.1"'  # the tag is kept, quoting and all
    assert values[10] == f"    registry: {NEW}"
    assert values[13] == "    # digest: sha256:... (set by the release pipeline)"
    assert values[16] == f'  image: "{NEW}/shop/migrate@{DIGEST}"'
    assert values[18] == "imagePullSecrets: []   # the kubelet identity pulls"

    # As YAML, the documents are the same except for the host of each reference.
    for name in ("deployment.yaml", "values.yaml", "charts/worker/values.yml"):
        old_docs = list(yaml.safe_load_all(originals[name]))
        new_docs = list(yaml.safe_load_all((folder / name).read_text()))
        assert new_docs == _swap(old_docs), name

    # A rerun finds only what it left on purpose (the comments) and writes nothing.
    again_before = _snapshot(folder)
    again = rewrite_folder(folder, OLD, NEW, write=True)
    assert again.changes == [] and again.written == []
    assert [(h.path, h.line) for h in again.hits] == [
        ("deployment.yaml", 2),
        ("deployment.yaml", 43),
    ]
    assert _snapshot(folder) == again_before


def test_line_ends_a_byte_order_mark_and_the_file_mode_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "crlf.yaml"
    data = f"\ufeffimage:\r\n  repository: {OLD}/app # why\r\n  tag: v1\r\n".encode()
    path.write_bytes(data)
    path.chmod(0o640)
    rewrite_folder(tmp_path, OLD, NEW, write=True)
    assert path.read_bytes() == data.replace(OLD.encode(), NEW.encode())
    assert path.stat().st_mode & 0o777 == 0o640


def test_hidden_folders_other_files_and_non_utf8_yaml_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.yaml").write_text(f"image: {OLD}/a:1\n")
    (tmp_path / "chart.tpl").write_text(f"image: {OLD}/a:1\n")
    (tmp_path / "latin1.yaml").write_bytes(f"# caf\xe9\nimage: {OLD}/a:1\n".encode("latin-1"))
    report = rewrite_folder(tmp_path, OLD, NEW, write=True)
    assert report.hits == [] and report.written == []
    assert report.skipped == [("latin1.yaml", "not UTF-8 text")]


@pytest.mark.parametrize(
    ("line", "found"),
    [
        (f"image: {OLD}/a:1", [f"{OLD}/a:1"]),
        (f"image: {OLD.upper()}/a:1", [f"{OLD.upper()}/a:1"]),
        (f"url: https://{OLD}/v2/", [f"{OLD}/v2/"]),
        (f"image: my{OLD}/a:1", []),
        (f"image: {OLD}.example.com/a:1", []),
        (f"image: {OLD}:5000/a:1", []),
        (f"image: docker.io/{OLD}/a:1", []),
        (f"image: {OLD}x/a:1", []),
        (f"a: {OLD}/a:1, b: {OLD}/b@{DIGEST}", [f"{OLD}/a:1", f"{OLD}/b@{DIGEST}"]),
    ],
)
def test_only_the_whole_host_matches(line: str, found: list[str]) -> None:
    _, hits = rewrite_text(line + "\n", OLD, NEW)
    assert [h.reference for h in hits] == found


def test_hosts_are_checked() -> None:
    assert login_server(f"https://{OLD}/", "--from") == OLD
    assert login_server("localhost:5000", "--to") == "localhost:5000"
    with pytest.raises(ConfigError, match="--to 'contoso/new' is not a registry login server"):
        login_server("contoso/new", "--to")
    with pytest.raises(ConfigError, match="the same registry"):
        rewrite_folder(DATA, OLD, OLD.upper())


def test_the_cli_lists_then_writes(folder: Path) -> None:
    runner = CliRunner()
    dry = runner.invoke(app, ["rewrite", "--from", OLD, "--to", NEW, str(folder)])
    assert dry.exit_code == 0, dry.output
    lines = dry.output.splitlines()
    assert f"deployment.yaml:18: {OLD}/shop/web:3.2.1 -> {NEW}/shop/web:3.2.1" in lines
    assert f"values.yaml:5: {OLD}/shop/web -> {NEW}/shop/web" in lines
    assert f"deployment.yaml:43: {OLD}/shop/old:1 (in a comment: left as it is)" in lines
    assert lines[-1].startswith("11 reference(s) in 3 file(s) would be rewritten")
    assert "run again with --write" in lines[-1]
    assert OLD in (folder / "values.yaml").read_text().split("\n")[4]

    done = runner.invoke(app, ["rewrite", "--from", OLD, "--to", NEW, str(folder), "--write"])
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[-1].startswith("rewrote 11 reference(s) in 3 file(s)")
    assert (folder / "values.yaml").read_text().split("\n")[4] == f"  repository: {NEW}/shop/web"

    bad = runner.invoke(app, ["rewrite", "--from", OLD, "--to", NEW, str(folder / "missing")])
    assert bad.exit_code == 2 and "is not a folder" in bad.output
