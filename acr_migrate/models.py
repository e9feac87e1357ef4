"""Core data models shared by inventories, the manifest, the plan and the engines."""

from __future__ import annotations

import os
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from acr_migrate.azure.settings import AcrRegistryRef
from acr_migrate.references import short_digest


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names it."""


class RegistryEndpoint(BaseModel):
    """Where a registry is and how to log in. Holds the *name* of the secret, never its value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Short name used in blob paths and reports")
    url: str = Field(description="Base URL of the registry, e.g. https://myreg.azurecr.io")
    username: str | None = Field(default=None, description="User for basic or token auth")
    password_env: str | None = Field(
        default=None, description="Environment variable of the worker holding the password"
    )
    ca_bundle: str | None = Field(default=None, description="PEM file of CAs to trust (path)")
    pull_token_block: str | None = Field(
        default=None,
        description="Prefect Secret block of a pull token (grant-pull-token writes it): "
        "imports pull the source with it",
    )
    azure: AcrRegistryRef | None = Field(
        default=None, description="For an Azure Container Registry: where it is in ARM"
    )

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError(f"registry url must be https://host[:port], got {value!r}")
        if parts.username or parts.password:
            raise ValueError("registry url must not carry credentials; use username/password_env")
        return value.rstrip("/")

    @property
    def login_server(self) -> str:
        """``host[:port]`` as it appears in image references."""
        return urlsplit(self.url).netloc

    def password(self) -> SecretStr | None:
        """The password from the environment variable named by ``password_env``."""
        if not self.password_env:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise ConfigError(
                f"registry {self.name!r}: environment variable {self.password_env} is not set"
            )
        return SecretStr(value)

    def verify(self) -> str | bool:
        """What to pass as TLS verification: the CA bundle path, or True for system CAs."""
        if self.ca_bundle:
            if not Path(self.ca_bundle).is_file():
                raise ConfigError(f"registry {self.name!r}: ca_bundle {self.ca_bundle} not found")
            return self.ca_bundle
        return True


class ImageRow(BaseModel):
    """One row of the manifest: a tag (or an untagged manifest) and its digest."""

    model_config = ConfigDict(frozen=True)

    source_registry: str
    repository: str
    tag: str = ""
    digest: str
    media_type: str
    size_bytes: int
    created_at: datetime | None = None
    updated_at: datetime | None = None
    platforms: str = ""
    subject: str = Field(
        default="",
        description="A referrer (signature, SBOM, attestation): the digest of the manifest it "
        "refers to, in the same repository; empty for an image",
    )


class Referrer(BaseModel):
    """A manifest that travels with its subject: it names the subject in its ``subject`` field
    (OCI 1.1 referrers) or is tagged after it (cosign's ``sha256-<hex>.sig``)."""

    model_config = ConfigDict(frozen=True)

    digest: str
    subject: str = Field(description="The digest it refers to (the image, or another referrer)")
    media_type: str
    size_bytes: int = 0
    tags: tuple[str, ...] = ()


class Action(StrEnum):
    """What the plan decided for one manifest."""

    IMPORT = "import"
    SKIP = "skip"
    CONFLICT = "conflict"
    EXCLUDED = "excluded"


class ImportItem(BaseModel):
    """One unique manifest to put into the target, with every tag it should carry."""

    model_config = ConfigDict(frozen=True)

    repository: str
    digest: str
    tags: tuple[str, ...] = ()
    media_type: str = ""
    size_bytes: int = 0
    target_repository: str = Field(default="", description="Repository in the target, if renamed")
    platforms: int = Field(default=0, description="Platform manifests of an index (0: not one)")
    referrers: tuple[Referrer, ...] = Field(
        default=(),
        description="Signatures, SBOMs, attestations of this image (and theirs), each after "
        "its own subject: they are copied after the image, in this order",
    )

    @property
    def destination(self) -> str:
        """The repository the image lands in."""
        return self.target_repository or self.repository

    @property
    def label(self) -> str:
        """``repo:tag`` for a tagged image, ``repo@<short digest>`` otherwise."""
        if self.tags:
            return f"{self.repository}:{self.tags[0]}"
        return f"{self.repository}@{short_digest(self.digest)}"


class PlanItem(BaseModel):
    """A decision of the plan for one (repository, digest) and a set of its tags."""

    model_config = ConfigDict(frozen=True)

    action: Action
    item: ImportItem
    reason: str = ""
    target_digests: dict[str, str] = Field(default_factory=dict)


class ImportStatus(StrEnum):
    """Outcome of importing one image."""

    IMPORTED = "imported"
    SKIPPED = "skipped"
    FAILED = "failed"
    DRY_RUN = "dry-run"


class ImportResult(BaseModel):
    """What happened to one image in the target."""

    repository: str
    digest: str
    tags: tuple[str, ...] = ()
    status: ImportStatus
    attempts: int = 1
    seconds: float = 0.0
    bytes_sent: int = 0
    blobs_sent: int = 0
    blobs_skipped: int = 0
    blobs_mounted: int = 0
    error: str = ""
    resumed_from: str = ""  # the unfinished run that imported it (this run found it there)
    referrers: int = 0  # its referrers in the target after the run (copied or already there)

    @classmethod
    def of(cls, item: ImportItem, status: ImportStatus) -> ImportResult:
        """A result for ``item`` with nothing measured (e.g. a dry run)."""
        return cls(
            repository=item.repository,
            digest=item.digest,
            tags=item.tags,
            status=status,
            referrers=len(item.referrers),
        )

    @classmethod
    def failed(cls, item: ImportItem, outcome: object) -> ImportResult:
        """The failure of ``item``: ``outcome`` is the exception its last attempt raised."""
        error = (
            f"{type(outcome).__name__}: {outcome}"
            if isinstance(outcome, BaseException)
            else str(outcome)
        )
        return cls(
            repository=item.repository,
            digest=item.digest,
            tags=item.tags,
            status=ImportStatus.FAILED,
            attempts=int(getattr(outcome, "acr_attempts", 1)),
            error=error,
        )

    @property
    def label(self) -> str:
        """Same naming as :attr:`ImportItem.label`."""
        return ImportItem(repository=self.repository, digest=self.digest, tags=self.tags).label


class ConcurrencyStats(BaseModel):
    """How many images a run had in flight, and how often the target throttled it."""

    model_config = ConfigDict(frozen=True)

    adaptive: bool
    #: Images allowed in flight at the moment of reading (the ceiling when not adaptive).
    current: int
    #: The highest it reached.
    peak: int
    ceiling: int
    #: Attempts answered 429/503, each one (also those that did not cut the window).
    throttled: int = 0
    #: Times the window was cut.
    cuts: int = 0

    def text(self) -> str:
        """``concurrency 7 (peak 12, ceiling 32), 3 throttled``: one line for people."""
        mode = "" if self.adaptive else "fixed "
        return (
            f"{mode}concurrency {self.current} (peak {self.peak}, ceiling {self.ceiling}), "
            f"{self.throttled} throttled"
        )
