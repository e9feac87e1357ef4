"""Secret-leak search: every text a Prefect server keeps, every blob, files and output, searched
for known secret values in the forms a leak takes (as is, URL-encoded, JSON-escaped, base64 at
any alignment: a Basic ``Authorization`` header holds base64 of ``user:password``), and for
tokens the Azure stand-in signed (whole, or their payload or signature part).

One helper for the leak tests: :func:`prefect_records` collects, :func:`find_leaks` searches,
:func:`leak_report` says where (the secret itself redacted).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

#: A page of every Prefect ``/filter`` read (the server's default maximum).
PAGE = 200
#: Prefect objects read with ``POST /<path>/filter`` (paged), by the kind reported.
FILTERED = {
    "flow run": "flow_runs",
    "task run": "task_runs",
    "log": "logs",
    "artifact": "artifacts",
    "variable": "variables",
    "deployment": "deployments",
    "flow": "flows",
    "work pool": "work_pools",
    "automation": "automations",
    "concurrency limit": "v2/concurrency_limits",
    "block document": "block_documents",
}
#: A JWT (three base64url parts, the first two JSON objects).
JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
#: A run of base64url characters long enough to be a token's part.
TOKEN_PART = re.compile(rb"[A-Za-z0-9_-]{40,}")
#: What a Secret block (and any SecretStr field of a block) shows without include_secrets.
MASK = "********"


@dataclass(frozen=True)
class Record:
    """One thing that was kept: its kind (``log``, ``blob``, ``file``...), where, its text."""

    kind: str
    where: str
    data: bytes


@dataclass(frozen=True)
class Leak:
    kind: str
    where: str
    secret: str  # the secret's label (never its value)
    form: str
    excerpt: str  # around the hit, the secret replaced by <label>


def _b64_inner(raw: bytes, alphabet: str) -> list[bytes]:
    """The base64 characters that only ``raw`` decides, at each of the 3 alignments it can
    have inside a longer encoded text (e.g. after ``user:`` in a Basic header)."""
    out = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        if alphabet == "url":
            encoded = base64.urlsafe_b64encode(b"\0" * offset + raw)
        start = -(-8 * offset // 6)
        end = (8 * offset + 8 * len(raw)) // 6
        out.append(encoded[start:end])
    return out


def secret_forms(value: str) -> dict[str, bytes]:
    """``value`` in each form a leak may take, by name."""
    raw = value.encode()
    forms = {
        "as is": raw,
        "URL-encoded": quote(value, safe="").encode(),
        "form-encoded": quote_plus(value, safe="").encode(),
        "JSON-escaped": json.dumps(value)[1:-1].encode(),
        "JSON-escaped /": json.dumps(value)[1:-1].replace("/", "\\/").encode(),
    }
    for n, part in enumerate(_b64_inner(raw, "std")):
        forms[f"base64 (alignment {n})"] = part
    for n, part in enumerate(_b64_inner(raw, "url")):
        forms[f"base64url (alignment {n})"] = part
    # Forms that are the raw value again add nothing; too short a base64 part would match noise.
    unique: dict[str, bytes] = {}
    for name, data in forms.items():
        if len(data) >= 12 and data not in unique.values():
            unique[name] = data
    return unique


def token_parts(tokens: Iterable[str]) -> dict[bytes, str]:
    """Payload and signature parts of issued JWTs (each unique to its token), to the label."""
    out: dict[bytes, str] = {}
    for n, token in enumerate(tokens):
        _, payload, signature = token.split(".")
        out[payload.encode()] = f"payload of issued token #{n}"
        out[signature.encode()] = f"signature of issued token #{n}"
    return out


def _excerpt(data: bytes, start: int, end: int, label: str, needles: Iterable[bytes]) -> str:
    text = data[max(0, start - 80) : end + 80]
    for needle in needles:
        text = text.replace(needle, f"<{label}>".encode())
    return text.decode(errors="replace").replace("\n", "\\n")


def find_leaks(
    records: Iterable[Record],
    secrets: Mapping[str, str],
    tokens: Iterable[str] = (),
    jwt_anywhere: bool = True,
) -> list[Leak]:
    """Every place a secret (any :func:`secret_forms`), a part of an issued token or (with
    ``jwt_anywhere``) any JWT appears in ``records``. One leak per record, secret and form."""
    forms = {
        (label, name): data
        for label, value in secrets.items()
        for name, data in secret_forms(value).items()
    }
    parts = token_parts(tokens)
    all_needles = list(forms.values()) + list(parts)
    leaks: list[Leak] = []
    for record in records:
        data = record.data
        for (label, name), needle in forms.items():
            at = data.find(needle)
            if at >= 0:
                excerpt = _excerpt(data, at, at + len(needle), label, all_needles)
                leaks.append(Leak(record.kind, record.where, label, name, excerpt))
        seen: set[str] = set()
        for match in TOKEN_PART.finditer(data):
            for piece in match.group().split(b"."):
                label = parts.get(piece)
                if label and label not in seen:
                    seen.add(label)
                    excerpt = _excerpt(data, match.start(), match.end(), label, all_needles)
                    leaks.append(Leak(record.kind, record.where, label, "token part", excerpt))
        if jwt_anywhere:
            for match in JWT.finditer(data):
                token = match.group()
                label = parts.get(token.split(b".")[1], "a JWT")
                excerpt = _excerpt(data, match.start(), match.end(), label, [token])
                leaks.append(Leak(record.kind, record.where, label, "JWT", excerpt))
    return leaks


def leak_report(leaks: list[Leak], limit: int = 40) -> str:
    """One line per leak: where, which secret (its label), the form, an excerpt."""
    lines = [f"{len(leaks)} leak(s):"]
    for leak in leaks[:limit]:
        lines.append(
            f"- {leak.kind} {leak.where}: {leak.secret} ({leak.form}) ...{leak.excerpt}..."
        )
    if len(leaks) > limit:
        lines.append(f"... and {len(leaks) - limit} more")
    return "\n".join(lines)


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True).encode()


async def _filter_all(client: Any, path: str, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every object ``POST /<path>/filter`` answers, page by page."""
    out: list[dict[str, Any]] = []
    while True:
        response = await client.post(
            f"/{path}/filter", json={**body, "limit": PAGE, "offset": len(out)}
        )
        response.raise_for_status()
        page = response.json()
        out.extend(page)
        if len(page) < PAGE:
            return out


async def _events(client: Any, flow_run_ids: list[str] | None) -> list[dict[str, Any]]:
    """Every event the server kept (of those flow runs' resources, or all)."""
    event_filter: dict[str, Any] = {"occurred": {"since": "2000-01-01T00:00:00Z"}}
    if flow_run_ids is not None:
        event_filter["any_resource"] = {"id": [f"prefect.flow-run.{i}" for i in flow_run_ids]}
    response = await client.post("/events/filter", json={"filter": event_filter, "limit": 50})
    response.raise_for_status()
    page = response.json()
    events = list(page["events"])
    while page.get("next_page"):
        response = await client.get(page["next_page"])
        response.raise_for_status()
        page = response.json()
        events.extend(page["events"])
    return events


async def prefect_records(
    prefect_client: Any, flow_run_ids: list[Any] | None = None
) -> list[Record]:
    """Everything the Prefect server behind ``prefect_client`` (a ``PrefectClient``) keeps, as
    its REST API answers it: flow runs (parameters, every state: message and data), task runs
    (inputs, every state), logs, artifacts (data, description), variables, deployments, flows,
    work pools (job templates), automations, concurrency limits, block documents (secret fields
    masked: asserted) and events.

    ``flow_run_ids``: only those runs, their subflows' runs, and their task runs, logs,
    artifacts and events (a test sharing its server with others); None: everything.
    """
    client = prefect_client._client  # the httpx client: raw JSON, every field as stored
    records: list[Record] = []

    def add(kind: str, items: Iterable[dict[str, Any]]) -> None:
        for item in items:
            where = str(item.get("id") or item.get("name") or "")
            records.append(Record(kind, where, _json(item)))

    ids: list[str] | None = None
    if flow_run_ids is not None:
        ids = [str(i) for i in flow_run_ids]
        runs = await _filter_all(client, "flow_runs", {"flow_runs": {"id": {"any_": ids}}})
        runs += await _filter_all(
            client, "flow_runs", {"flow_runs": {"parent_flow_run_id": {"any_": ids}}}
        )
        ids = sorted({r["id"] for r in runs})
        by_run = {"flow_runs": {"id": {"any_": ids}}}
        task_runs = await _filter_all(client, "task_runs", by_run)
        add("flow run", runs)
        add("task run", task_runs)
        add("log", await _filter_all(client, "logs", {"logs": {"flow_run_id": {"any_": ids}}}))
        add(
            "artifact",
            await _filter_all(client, "artifacts", {"artifacts": {"flow_run_id": {"any_": ids}}}),
        )
    else:
        runs, task_runs = [], []
        for kind, path in FILTERED.items():
            found = await _filter_all(client, path, {})
            if kind == "block document":
                _assert_masked(found)
            runs = found if kind == "flow run" else runs
            task_runs = found if kind == "task run" else task_runs
            add(kind, found)
    for run in runs:
        response = await client.get("/flow_run_states/", params={"flow_run_id": run["id"]})
        response.raise_for_status()
        add(f"state of flow run {run['name']}", response.json())
    for task_run in task_runs:
        response = await client.get("/task_run_states/", params={"task_run_id": task_run["id"]})
        response.raise_for_status()
        add(f"state of task run {task_run['name']}", response.json())
    add("event", await _events(client, ids))
    return records


def _assert_masked(documents: list[dict[str, Any]]) -> None:
    """Block documents read without ``include_secrets`` show each secret field masked."""
    for doc in documents:
        schema = (doc.get("block_schema") or {}).get("fields") or {}
        for name in schema.get("secret_fields") or []:
            value = doc.get("data", {})
            for part in name.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, dict):  # a Secret block holding a dict: every value masked
                assert set(map(str, value.values())) <= {MASK}, (doc["name"], name)
            elif value is not None:
                assert value == MASK, (doc["name"], name)


def file_records(kind: str, paths: Iterable[Path], base: Path | None = None) -> Iterator[Record]:
    """Each file of ``paths`` as a record (named relative to ``base``)."""
    for path in paths:
        if path.is_file():
            where = str(path.relative_to(base)) if base else str(path)
            yield Record(kind, where, path.read_bytes())


def blob_records(service: Any, container: str | None = None, prefix: str = "") -> Iterator[Record]:
    """Every blob (with its metadata) of a ``BlobServiceClient``: of every container, or of
    ``container`` under ``prefix``."""
    names = [container] if container else [c.name for c in service.list_containers()]
    for name in names:
        client = service.get_container_client(name)
        for blob in client.list_blobs(name_starts_with=prefix or None, include=["metadata"]):
            data = client.download_blob(blob.name).readall()
            yield Record("blob", f"{name}/{blob.name}", data + b"\n" + _json(blob.metadata or {}))
