"""The runbook's final test: what an application would do with the new registry.

Every migrated manifest is pulled by digest with a pull-only credential of the target, and one
blob of each image (its config, or its first layer) is downloaded and checked against its
digest. An index is followed to its first platform manifest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel

from acr_migrate.mediatypes import is_index
from acr_migrate.models import ImageRow
from acr_migrate.oci.client import RegistryClient
from acr_migrate.references import short_digest


class PullCheck(BaseModel):
    """One manifest of the manifest pulled from the target."""

    repository: str
    digest: str
    tags: list[str]
    problem: str = ""

    @property
    def label(self) -> str:
        return (
            f"{self.repository}:{self.tags[0]}" if self.tags else f"{self.repository}@{self.digest}"
        )


def _one_blob(client: RegistryClient, repository: str, digest: str) -> str:
    """Pull one blob of the manifest ``digest`` (following an index); "" when it checks out."""
    manifest = client.get_manifest(repository, digest)
    if manifest.digest != digest:
        return f"the registry served {manifest.digest} for {digest}"
    body = manifest.json()
    if is_index(manifest.media_type):
        children = [c["digest"] for c in body.get("manifests") or [] if "digest" in c]
        if not children:
            return "an index without manifests"
        manifest = client.get_manifest(repository, children[0])
        body = manifest.json()
    blob = (body.get("config") or {}).get("digest") or next(
        (layer["digest"] for layer in body.get("layers") or [] if "digest" in layer), None
    )
    if not blob:
        return ""  # nothing to download (an artifact without blobs)
    sha = hashlib.sha256()
    with client.open_blob(repository, blob) as response:
        for chunk in response.iter_bytes(1 << 20):
            sha.update(chunk)
    if f"sha256:{sha.hexdigest()}" != blob:
        return f"blob {short_digest(blob)} downloaded with other bytes"
    return ""


def pull_checks(
    client: RegistryClient, rows: Iterable[ImageRow], workers: int = 8
) -> list[PullCheck]:
    """One check per manifest of ``rows``; a problem names what failed."""
    tags: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        tags.setdefault((row.repository, row.digest), [])
        if row.tag:
            tags[(row.repository, row.digest)].append(row.tag)

    def check(key: tuple[str, str]) -> PullCheck:
        repository, digest = key
        try:
            problem = _one_blob(client, repository, digest)
        except Exception as exc:  # every failure is a finding, named per image
            problem = str(exc).splitlines()[0][:300] or type(exc).__name__
        return PullCheck(repository=repository, digest=digest, tags=tags[key], problem=problem)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(check, sorted(tags)))


def final_test_markdown(
    registry: str, checks: list[PullCheck], rbac_missing: list[str], limit: int = 50
) -> str:
    """One report: the pulls, then the role assignments the mapping planned but are missing."""
    failed = [c for c in checks if c.problem]
    lines = [
        f"# Final test of `{registry}`",
        "",
        f"Pulled {len(checks)} manifest(s) and one blob of each: {len(failed)} failed.",
    ]
    if failed:
        lines += ["", "| image | digest | problem |", "|---|---|---|"]
        for c in failed[:limit]:
            lines.append(f"| `{c.label}` | `{short_digest(c.digest)}` | {c.problem} |")
    lines += ["", f"Role assignments planned by the mapping and missing: {len(rbac_missing)}."]
    lines += [f"- {m}" for m in rbac_missing[:limit]]
    return "\n".join(lines) + "\n"
