"""Referrers: signatures, SBOMs and attestations that belong to an image and travel with it.

Three ways a registry says what refers to a manifest (OCI distribution spec v1.1, "Listing
Referrers" and "Referrers Tag Schema"; cosign's tag convention):

- the referrers API, ``GET /v2/<name>/referrers/<digest>``: an image index of descriptors of
  the manifests whose ``subject`` is that digest (``artifactType`` filter, ``Link`` pages); a
  registry that has it never answers it 404;
- where it answers 404, the referrers tag schema: the same index, kept by clients under the tag
  ``<alg>-<encoded>`` (``sha256-<hex>``);
- cosign's tags ``sha256-<hex>.sig`` / ``.att`` / ``.sbom``: manifests without a ``subject``
  field, tied to the image only by the tag's name.

:func:`discover` walks them from a repository's manifests, recursively (a signature of an
SBOM). :func:`attach` says, for the rows of a manifest CSV, which image each referrer row
belongs to, so the plan, the engines and the validation treat it as part of that image.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from acr_migrate.mediatypes import MANIFEST_TYPES, OCI_INDEX, is_index
from acr_migrate.models import ImageRow, Referrer
from acr_migrate.references import sha256_digest

#: cosign's tag suffixes (``sha256-<hex>.sig``): signatures, attestations, SBOMs.
COSIGN_SUFFIXES = ("sig", "att", "sbom")
_TAG_CHARS = re.compile(r"[^a-zA-Z0-9._-]")
_REFERRERS_TAG = re.compile(r"^sha256-([0-9a-f]{64})$")
_COSIGN_TAG = re.compile(r"^sha256-([0-9a-f]{64})\.(sig|att|sbom)$")

#: A descriptor of an image index (``mediaType``, ``digest``, ``size``, ``artifactType``, ...).
Descriptor = dict[str, Any]


def referrers_tag(digest: str) -> str:
    """The referrers tag schema's tag of ``digest``: the algorithm truncated to 32 characters,
    ``-``, the encoded part truncated to 64, characters a tag may not have replaced by ``-``."""
    algorithm, _, encoded = digest.partition(":")
    return _TAG_CHARS.sub("-", f"{algorithm[:32]}-{encoded[:64]}")


def cosign_tags(digest: str) -> list[str]:
    """cosign's tags of ``digest``: ``sha256-<hex>.sig``, ``.att``, ``.sbom``."""
    return [f"{referrers_tag(digest)}.{suffix}" for suffix in COSIGN_SUFFIXES]


def is_referrers_tag(tag: str) -> bool:
    """True for a ``sha256-<hex>`` tag (where a registry without the API keeps referrers)."""
    return bool(_REFERRERS_TAG.match(tag))


def cosign_subject(tag: str) -> str | None:
    """The digest a cosign tag (``sha256-<hex>.sig|.att|.sbom``) names, else None."""
    match = _COSIGN_TAG.match(tag)
    return f"sha256:{match.group(1)}" if match else None


def descriptors_of(index: Mapping[str, Any], artifact_type: str | None = None) -> list[Descriptor]:
    """The descriptors of a referrers list (an image index), only manifests, optionally only
    those of ``artifact_type`` (for a registry that did not apply the filter itself)."""
    found = []
    for entry in index.get("manifests") or []:
        if not isinstance(entry, dict) or not entry.get("digest"):
            continue
        if artifact_type is not None and entry.get("artifactType") != artifact_type:
            continue
        found.append(dict(entry))
    return found


def descriptor_of(body: bytes, media_type: str) -> Descriptor:
    """The referrers-list descriptor of a manifest that has a ``subject`` (distribution spec
    "Pushing Manifests with Subject"): ``artifactType`` from the manifest, else the config's
    media type (an index without one has none); the manifest's annotations."""
    document = json.loads(body)
    descriptor: Descriptor = {
        "mediaType": media_type,
        "digest": sha256_digest(body),
        "size": len(body),
    }
    artifact_type = document.get("artifactType")
    if not artifact_type and not is_index(media_type):
        artifact_type = (document.get("config") or {}).get("mediaType")
    if artifact_type:
        descriptor["artifactType"] = artifact_type
    if document.get("annotations"):
        descriptor["annotations"] = dict(document["annotations"])
    return descriptor


def subject_of(body: bytes) -> str:
    """The digest in a manifest's ``subject`` field, or ``""``."""
    try:
        subject = json.loads(body).get("subject") or {}
    except (ValueError, AttributeError):
        return ""
    return str(subject.get("digest") or "") if isinstance(subject, dict) else ""


def referrers_index(descriptors: Sequence[Descriptor]) -> bytes:
    """A referrers list as the tag schema keeps it: an OCI image index of ``descriptors``."""
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(descriptors)}
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass
class Discovery:
    """What :func:`discover` found in one repository."""

    referrers: list[Referrer]
    #: Descriptors that are not manifests this tool can copy (media type, digest), skipped.
    skipped: list[tuple[str, str]]


def discover(
    roots: Iterable[str],
    listing: Callable[[str], list[Descriptor] | None],
    tag_schema: Callable[[str], list[Descriptor]],
) -> Discovery:
    """Every referrer of ``roots`` and, recursively, of those referrers.

    ``listing(digest)`` asks the referrers API (None: the registry has none, it answered 404);
    ``tag_schema(digest)`` reads the referrers tag schema's index instead ([] when no such
    tag). Each digest is asked once; a manifest is reported once, under the first subject it
    was found for. A root may itself be a referrer (an ACR lists every manifest).
    """
    queue = deque(dict.fromkeys(roots))
    asked = set(queue)
    recorded: set[str] = set()
    found: list[Referrer] = []
    skipped: list[tuple[str, str]] = []
    while queue:
        subject = queue.popleft()
        descriptors = listing(subject)
        if descriptors is None:
            descriptors = tag_schema(subject)
        for descriptor in descriptors:
            digest = str(descriptor["digest"])
            media_type = str(descriptor.get("mediaType") or "")
            if digest in recorded or digest == subject:
                continue
            recorded.add(digest)
            if media_type not in MANIFEST_TYPES:
                skipped.append((media_type, digest))
                continue
            found.append(
                Referrer(
                    digest=digest,
                    subject=subject,
                    media_type=media_type,
                    size_bytes=int(descriptor.get("size") or 0),
                )
            )
            if digest not in asked:
                asked.add(digest)
                queue.append(digest)
    return Discovery(found, skipped)


def skipped_notes(repository: str, found: Discovery) -> list[str]:
    """The export-report notes of referrers that are not manifests this tool copies."""
    return [
        f"{repository}@{digest}: a referrer of media type {media_type!r} is not a manifest "
        "this tool copies; it is not in the manifest"
        for media_type, digest in found.skipped
    ]


def referrer_rows(
    rows: Sequence[ImageRow], discovery: Discovery, source_registry: str, repository: str
) -> list[ImageRow]:
    """``rows`` of one repository with what ``discovery`` found: a row of a manifest that is a
    referrer gets its ``subject``; a referrer that has no row (untagged) gets one. cosign tags
    name their subject. The rows of ``sha256-<hex>`` referrers lists are dropped: they are the
    tag schema's bookkeeping, rebuilt by the import where a target has no referrers API."""
    subjects = {r.digest: r.subject for r in discovery.referrers}
    out: list[ImageRow] = []
    have: set[str] = set()
    for row in rows:
        if row.tag and is_referrers_tag(row.tag) and is_index(row.media_type):
            continue
        subject = subjects.get(row.digest) or (cosign_subject(row.tag) if row.tag else None)
        if subject and subject != row.digest and not row.subject:
            row = row.model_copy(update={"subject": subject})
        out.append(row)
        have.add(row.digest)
    for referrer in discovery.referrers:
        if referrer.digest in have:
            continue
        have.add(referrer.digest)
        out.append(
            ImageRow(
                source_registry=source_registry,
                repository=repository,
                digest=referrer.digest,
                media_type=referrer.media_type,
                size_bytes=referrer.size_bytes,
                subject=referrer.subject,
            )
        )
    return out


@dataclass(frozen=True)
class Attachment:
    """Where the referrer rows of a manifest CSV belong."""

    #: (repository, referrer digest) -> (repository, digest of the image it travels with)
    root: dict[tuple[str, str], tuple[str, str]]
    #: (repository, image digest) -> its referrers, each after its own subject
    referrers: dict[tuple[str, str], tuple[Referrer, ...]]

    def root_of(self, row: ImageRow) -> tuple[str, str] | None:
        """The image a referrer row travels with; None for an image (or an orphan referrer,
        whose subject is not in the manifest: it travels alone)."""
        return self.root.get((row.repository, row.digest))


def attach(rows: Iterable[ImageRow]) -> Attachment:
    """Which image each referrer row travels with: its subject's subject, up to a manifest
    that is not a referrer and has a row. A referrer whose chain ends outside the manifest (an
    index's platform manifest, a deleted image) has no root and travels alone."""
    rows = list(rows)
    subject: dict[tuple[str, str], str] = {}
    tags: dict[tuple[str, str], list[str]] = {}
    first: dict[tuple[str, str], ImageRow] = {}
    images: set[tuple[str, str]] = set()
    for row in rows:
        key = (row.repository, row.digest)
        first.setdefault(key, row)
        if row.subject:
            subject[key] = row.subject
            if row.tag:
                tags.setdefault(key, []).append(row.tag)
        else:
            images.add(key)
    root: dict[tuple[str, str], tuple[str, str]] = {}
    for key in subject:
        if key in images:
            continue  # also listed as an image (a row without a subject): it is one
        seen = {key}
        current = key
        while current in subject and current not in images:
            current = (current[0], subject[current])
            if current in seen:
                break
            seen.add(current)
        if current in images and current != key:
            root[key] = current
    children: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for key in subject:
        if key in root:
            children.setdefault((key[0], subject[key]), []).append(key)
    referrers: dict[tuple[str, str], tuple[Referrer, ...]] = {}
    for image in images:
        ordered: list[Referrer] = []
        queue = deque(sorted(children.get(image, [])))
        while queue:
            key = queue.popleft()
            row = first[key]
            ordered.append(
                Referrer(
                    digest=row.digest,
                    subject=subject[key],
                    media_type=row.media_type,
                    size_bytes=row.size_bytes,
                    tags=tuple(sorted(tags.get(key, []))),
                )
            )
            queue.extend(sorted(children.get(key, [])))
        if ordered:
            referrers[image] = tuple(ordered)
    return Attachment(root=root, referrers=referrers)
