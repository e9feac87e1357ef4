"""Image references rewritten from the old registry to the new one, in a folder of Kubernetes
manifests and Helm values (YAML files, searched recursively).

Only the registry host of a reference changes: ``old.azurecr.io/team/api:1.4`` becomes
``new.azurecr.io/team/api:1.4``, a digest (``@sha256:...``) stays as it is, a Helm value that
holds the host alone (``registry: old.azurecr.io``) or a repository without its tag
(``repository: old.azurecr.io/team/api`` beside ``tag: "1.4"``) changes the same way. The files
are edited as text, line by line, so comments, quoting, indentation, key order and line ends
stay exactly as they were; a file without a reference is never written.

A reference inside a YAML comment is reported but left as it is (comments are not
configuration). The host matches case-insensitively and only as a whole host:
``old.azurecr.io.example.com``, ``myold.azurecr.io`` and ``old.azurecr.io:5000`` are other
registries.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from acr_migrate.models import ConfigError

SUFFIXES = (".yaml", ".yml")
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?$")
#: Characters of a reference after its host: repository path, ``:tag``, ``@digest``.
_REST = re.compile(r"/[A-Za-z0-9._\-/:@+]*")
#: Before the host: what may not touch it (it would be part of a longer name).
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_@")
#: A block scalar header (``key: |``, ``- >-``, ``run: |2``), after any comment is cut off.
_BLOCK_HEADER = re.compile(r"(?:^|[:\-]\s+|^\s*-\s*)[|>][0-9+\-]*\s*$")


def login_server(value: str, option: str) -> str:
    """``value`` as a bare login server (``host[:port]``); ``https://`` and a trailing slash are
    dropped. One clear error naming ``option`` otherwise."""
    host = value.strip()
    for scheme in ("https://", "http://"):
        if host.lower().startswith(scheme):
            host = host[len(scheme) :]
    host = host.rstrip("/")
    if not _HOST.match(host):
        raise ConfigError(
            f"{option} {value!r} is not a registry login server (host[:port], e.g. "
            "contoso.azurecr.io)"
        )
    return host


@dataclass(frozen=True)
class Hit:
    """One image reference to the old registry: where it is, and what it becomes."""

    path: str  # relative to the folder, with forward slashes
    line: int  # 1-based
    column: int  # 1-based
    reference: str  # as written
    rewritten: str
    in_comment: bool = False


@dataclass
class RewriteReport:
    """What a scan found (and, with ``write``, which files were rewritten)."""

    folder: Path
    old: str
    new: str
    files_scanned: int = 0
    hits: list[Hit] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    written: list[str] = field(default_factory=list)

    @property
    def changes(self) -> list[Hit]:
        """The references that are (or would be) rewritten: those outside comments."""
        return [h for h in self.hits if not h.in_comment]

    def files_to_change(self) -> list[str]:
        return sorted({h.path for h in self.changes})


def _comment_start(line: str) -> int | None:
    """Where a YAML comment starts in ``line`` (``#`` after whitespace or at the start,
    outside quotes), or None."""
    quote = ""
    prev = " "
    i = 0
    while i < len(line):
        c = line[i]
        if quote == '"':
            if c == "\\":
                i += 2
                prev = "x"
                continue
            if c == '"':
                quote = ""
        elif quote == "'":
            if c == "'":
                if line[i + 1 : i + 2] == "'":
                    i += 2
                    continue
                quote = ""
        elif c == "#" and prev in " \t":
            return i
        elif c in "\"'" and prev in " \t[{,":
            quote = c
        prev = c
        i += 1
    return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _references(text: str, old: str) -> list[tuple[int, int]]:
    """Spans (start, end) of the references to host ``old`` in ``text``."""
    spans: list[tuple[int, int]] = []
    for m in re.finditer(re.escape(old), text, re.IGNORECASE):
        start, end = m.start(), m.end()
        before = text[start - 1] if start else " "
        if before in _NAME_CHARS or (before == "/" and not text[:start].endswith("://")):
            continue
        after = text[end : end + 1]
        if after and (after in _NAME_CHARS or (after == ":" and text[end + 1 : end + 2].isdigit())):
            continue
        rest = _REST.match(text, end)
        spans.append((start, rest.end() if rest else end))
    return spans


def rewrite_text(text: str, old: str, new: str, path: str = "") -> tuple[str, list[Hit]]:
    """``text`` with every reference to ``old`` outside comments moved to ``new``, and every
    reference found (comments included). Lines are split on ``\\n`` only and joined back the
    same way, so the text round-trips byte for byte."""
    lines = text.split("\n")
    hits: list[Hit] = []
    block_parent: int | None = None  # indentation of the line that opened a block scalar
    for n, line in enumerate(lines):
        stripped = line.strip()
        if block_parent is not None and (not stripped or _indent(line) > block_parent):
            comment = None  # block scalar content: a "#" there is text, not a comment
        else:
            block_parent = None
            comment = _comment_start(line)
            content = line if comment is None else line[:comment]
            if _BLOCK_HEADER.search(content.rstrip()) and stripped not in ("---", "..."):
                block_parent = _indent(line)
        spans = _references(line, old)
        if not spans:
            continue
        out = line
        for start, end in reversed(spans):
            reference = line[start:end]
            rewritten = new + reference[len(old) :]
            in_comment = comment is not None and start >= comment
            hits.append(Hit(path, n + 1, start + 1, reference, rewritten, in_comment))
            if not in_comment:
                out = out[:start] + rewritten + out[end:]
        lines[n] = out
    hits.sort(key=lambda h: (h.line, h.column))
    return "\n".join(lines), hits


def _yaml_files(folder: Path) -> list[Path]:
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue  # .git, .helmignore'd caches and the like
        if path.suffix.lower() in SUFFIXES and path.is_file() and not path.is_symlink():
            found.append(path)
    return found


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rewrite_folder(folder: Path, old: str, new: str, *, write: bool = False) -> RewriteReport:
    """Every reference to ``old`` in the YAML files under ``folder``; with ``write``, the files
    holding any (outside comments) are rewritten to ``new`` in place."""
    old = login_server(old, "--from")
    new = login_server(new, "--to")
    if old.lower() == new.lower():
        raise ConfigError(f"--from and --to are the same registry ({old})")
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder")
    report = RewriteReport(folder=folder, old=old, new=new)
    for path in _yaml_files(folder):
        relative = path.relative_to(folder).as_posix()
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            report.skipped.append((relative, "not UTF-8 text"))
            continue
        report.files_scanned += 1
        changed, hits = rewrite_text(text, old, new, relative)
        report.hits += hits
        if write and changed != text:
            _write_atomically(path, changed.encode("utf-8"))
            report.written.append(relative)
    return report
