"""Grammar of repository names, tags and digests (OCI distribution spec)."""

from __future__ import annotations

import hashlib
import re

# OCI distribution spec, "Pulling manifests": <name> and <reference>.
REPOSITORY_RE = re.compile(
    r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$"
)
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
MAX_REPOSITORY_LENGTH = 255


def is_repository(name: str) -> bool:
    """True when ``name`` is a valid repository name."""
    return len(name) <= MAX_REPOSITORY_LENGTH and bool(REPOSITORY_RE.match(name))


def is_tag(tag: str) -> bool:
    """True when ``tag`` is a valid tag."""
    return bool(TAG_RE.match(tag))


def is_digest(digest: str) -> bool:
    """True for a ``sha256:`` digest with 64 lowercase hex characters."""
    return bool(DIGEST_RE.match(digest))


def sha256_digest(data: bytes) -> str:
    """The ``sha256:<hex>`` digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def short_digest(digest: str, length: int = 12) -> str:
    """``sha256:abcdef...`` -> ``abcdef123456`` for display."""
    return digest.split(":", 1)[-1][:length]
