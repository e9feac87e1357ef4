"""Cutover: deleting the source once the target holds everything (no Prefect here).

The flow (``flows/cutover.py``) asks a person for approval; this module only knows *what*
would be deleted and *how*, through one engine-agnostic interface, :class:`SourceDeleter`:

- :class:`OciManifestDeleter` deletes every manifest of the chosen repositories through the
  OCI distribution API (``DELETE /v2/<name>/manifests/<digest>``; the registry must allow
  deletes, as the sandbox registries do). Index children go after their index.
- :class:`ArmRegistryDeleter` deletes the whole Azure Container Registry through ARM
  (:func:`delete_arm_registry`: ``registries.begin_delete`` with the source tenant's identity,
  then a GET that must answer 404).

Before anything is proposed, :func:`validation_verdict` reads the newest validation report
the target wrote next to the manifest: the source is only offered for deletion when every
manifest row was found in the target with the same digest.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from acr_migrate.connect import open_inventory
from acr_migrate.filters import ImageFilter
from acr_migrate.mediatypes import is_index
from acr_migrate.models import ConfigError, ImageRow, RegistryEndpoint
from acr_migrate.oci.client import RegistryClient

METHOD_OCI = "oci-manifests"
METHOD_ARM = "arm-registry"


class CutoverOptions(BaseModel):
    """Options of the source deletion (shown as a form in the Prefect UI)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    include: list[str] = Field(
        default_factory=list,
        description="Only these repositories of the manifest (globs or /regex/); all if empty",
    )
    exclude: list[str] = Field(default_factory=list, description="Keep these repositories")
    require_validation: bool = Field(
        default=True,
        description="Refuse unless the newest validation next to the manifest found no gap",
    )
    approval_timeout_seconds: int = Field(
        default=3600, ge=1, le=7 * 24 * 3600, description="No answer within this time means no"
    )
    dry_run: bool = Field(default=False, description="Show what would be deleted; ask nothing")


class RepositoryContent(BaseModel):
    """What one repository of the source holds now."""

    repository: str
    tags: list[str] = Field(default_factory=list)
    digests: list[str] = Field(default_factory=list)


class DeletionPlan(BaseModel):
    """What deleting the source would remove."""

    source: str = Field(description="Login server of the source registry")
    name: str = Field(description="Short name of the source registry")
    method: str = Field(description=f"{METHOD_OCI} or {METHOD_ARM}")
    repositories: list[RepositoryContent] = Field(default_factory=list)
    outside: list[str] = Field(
        default_factory=list,
        description="Repositories the delete would remove that were not migrated (ARM only)",
    )

    def counts(self) -> dict[str, int]:
        return {
            "repositories": len(self.repositories),
            "manifests": sum(len(r.digests) for r in self.repositories),
            "tags": sum(len(r.tags) for r in self.repositories),
        }

    @property
    def empty(self) -> bool:
        return self.method != METHOD_ARM and not any(r.digests for r in self.repositories)

    def markdown(self, limit: int = 50) -> str:
        """What will happen, for the approval form and the plan artifact."""
        counts = self.counts()
        what = (
            f"the whole registry `{self.source}` (ARM delete) with"
            if self.method == METHOD_ARM
            else f"every manifest of these repositories of `{self.source}`:"
        )
        lines = [
            f"# Delete the source `{self.name}`",
            "",
            f"This deletes {what} {counts['repositories']} repositories, "
            f"{counts['manifests']} manifests, {counts['tags']} tags. It cannot be undone.",
            "",
            "| repository | tags | manifests |",
            "|---|---:|---:|",
        ]
        for repo in self.repositories[:limit]:
            lines.append(f"| `{repo.repository}` | {len(repo.tags)} | {len(repo.digests)} |")
        if len(self.repositories) > limit:
            lines.append(f"| ... {len(self.repositories) - limit} more | | |")
        if self.outside:
            lines += [
                "",
                f"**{len(self.outside)} of these repositories were not migrated** "
                "(not in the manifest, or filtered out): "
                + ", ".join(f"`{r}`" for r in self.outside[:limit]),
            ]
        return "\n".join(lines) + "\n"


class DeletionResult(BaseModel):
    """What the delete did."""

    method: str
    deleted: int = 0
    already_gone: int = 0
    remaining: dict[str, list[str]] = Field(
        default_factory=dict, description="Tags still there per repository (should be none)"
    )

    @property
    def ok(self) -> bool:
        return not self.remaining


class ValidationVerdict(BaseModel):
    """The newest validation report next to a manifest, summed up."""

    blob: str = ""
    counts: dict[str, int] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            bool(self.blob)
            and self.counts.get("ok", 0) > 0
            and self.counts.get("missing", 0) == 0
            and self.counts.get("mismatch", 0) == 0
        )

    def describe(self) -> str:
        if not self.blob:
            return "no validation report next to the manifest (run the import or validate flow)"
        counts = ", ".join(f"{k}: {v}" for k, v in self.counts.items())
        return f"{self.blob}: {counts}"


class SourceDeleter(Protocol):
    """Deletes the source registry's content; knows nothing of approvals."""

    method: str

    def plan(self, repositories: Iterable[str]) -> DeletionPlan:
        """What is in ``repositories`` now (nothing is changed)."""
        ...

    def delete(self, plan: DeletionPlan) -> DeletionResult:
        """Delete what ``plan`` lists, then check nothing is left."""
        ...

    def close(self) -> None: ...


def validation_verdict(blob: str, data: bytes) -> ValidationVerdict:
    """Sum up a ``validation-<run>.csv`` (columns ``..., check``)."""
    import pandas as pd  # only the cutover reads a validation report

    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    if "check" not in frame.columns:
        raise ConfigError(f"{blob}: not a validation report (no 'check' column)")
    counts = {str(k): int(v) for k, v in frame["check"].value_counts().items()}
    return ValidationVerdict(blob=blob, counts=counts)


def repositories_of(rows: Iterable[ImageRow], include: list[str], exclude: list[str]) -> list[str]:
    """The manifest's repositories, filtered by repository patterns."""
    image_filter = ImageFilter.from_patterns(include, exclude)
    return sorted({r.repository for r in rows if image_filter.reason(r.repository, "") is None})


def is_approved(approve: bool, confirm: str, expected: str) -> tuple[bool, str]:
    """An approval counts only when ticked *and* the registry name is typed back exactly."""
    if not approve:
        return False, "not approved"
    if confirm.strip() != expected:
        return False, f"approval ignored: the typed name {confirm!r} is not {expected!r}"
    return True, "approved"


class OciManifestDeleter:
    """Deletes manifests through the OCI distribution API."""

    method = METHOD_OCI

    def __init__(self, client: RegistryClient, *, workers: int = 8):
        self.client = client
        self.workers = workers

    def _content(self, repository: str) -> RepositoryContent:
        tags = sorted(self.client.tags(repository))
        digests: list[str] = []
        for tag in tags:
            head = self.client.head_manifest(repository, tag)
            if head is not None and head.digest not in digests:
                digests.append(head.digest)
        return RepositoryContent(repository=repository, tags=tags, digests=digests)

    def plan(self, repositories: Iterable[str]) -> DeletionPlan:
        repos = sorted(set(repositories))
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            content = list(pool.map(self._content, repos))
        endpoint = self.client.endpoint
        return DeletionPlan(
            source=endpoint.login_server,
            name=endpoint.name,
            method=self.method,
            repositories=[c for c in content if c.digests],
        )

    def _delete_repository(self, repo: RepositoryContent) -> tuple[int, int]:
        deleted = gone = 0
        for digest in repo.digests:
            children: list[str] = []
            try:
                manifest = self.client.get_manifest(repo.repository, digest)
                if is_index(manifest.media_type):
                    children = [
                        c["digest"] for c in manifest.json().get("manifests") or [] if "digest" in c
                    ]
            except Exception:
                children = []
            for ref in [digest, *children]:
                if self.client.delete_manifest(repo.repository, ref):
                    deleted += 1
                else:
                    gone += 1
        return deleted, gone

    def delete(self, plan: DeletionPlan) -> DeletionResult:
        result = DeletionResult(method=self.method)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for deleted, gone in pool.map(self._delete_repository, plan.repositories):
                result.deleted += deleted
                result.already_gone += gone
            left = pool.map(self.client.tags, [r.repository for r in plan.repositories])
            for repo, tags in zip(plan.repositories, left, strict=True):
                if tags:
                    result.remaining[repo.repository] = sorted(tags)
        return result

    def close(self) -> None:
        self.client.close()


def delete_arm_registry(endpoint: RegistryEndpoint) -> None:
    """Delete the Azure Container Registry ``endpoint.azure`` through ARM, then check it is gone.

    Uses the source tenant's own identity (``endpoint.azure.identity``). A registry that is
    already gone counts as deleted.
    """
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    from acr_migrate.azure.clients import registry_management_client

    with registry_management_client(endpoint) as arm:
        assert endpoint.azure is not None  # registry_management_client checked it
        ref = endpoint.azure
        what = f"registry {ref.registry!r} (resource group {ref.resource_group!r})"
        try:
            arm.registries.begin_delete(ref.resource_group, ref.registry).result()
        except ResourceNotFoundError:
            return
        except HttpResponseError as exc:
            code = getattr(getattr(exc, "error", None), "code", None) or exc.status_code
            raise RuntimeError(f"ARM refused to delete the {what}: {code}: {exc.message}") from None
        try:
            arm.registries.get(ref.resource_group, ref.registry)
        except ResourceNotFoundError:
            return
    raise RuntimeError(f"ARM reported the {what} deleted, but it is still there")


class ArmRegistryDeleter:
    """Deletes the whole registry through ARM (the plan comes from the inventory port)."""

    method = METHOD_ARM

    def __init__(
        self,
        endpoint: RegistryEndpoint,
        rows: Callable[[], Iterable[ImageRow]],
        remove: Callable[[RegistryEndpoint], None] = delete_arm_registry,
        close: Callable[[], None] = lambda: None,
    ):
        self.endpoint = endpoint
        self.rows = rows
        self.remove = remove
        self._close = close

    def plan(self, repositories: Iterable[str]) -> DeletionPlan:
        """The whole registry goes, so the plan lists all of it; ``outside`` names the rest."""
        migrated = set(repositories)
        content: dict[str, RepositoryContent] = {}
        for row in self.rows():
            repo = content.setdefault(row.repository, RepositoryContent(repository=row.repository))
            if row.tag:
                repo.tags.append(row.tag)
            if row.digest not in repo.digests:
                repo.digests.append(row.digest)
        return DeletionPlan(
            source=self.endpoint.login_server,
            name=self.endpoint.name,
            method=self.method,
            repositories=[content[k] for k in sorted(content)],
            outside=sorted(set(content) - migrated),
        )

    def delete(self, plan: DeletionPlan) -> DeletionResult:
        self.remove(self.endpoint)
        return DeletionResult(method=self.method, deleted=plan.counts()["manifests"])

    def close(self) -> None:
        self._close()


def open_deleter(endpoint: RegistryEndpoint) -> SourceDeleter:
    """ARM for an Azure registry (``endpoint.azure``), else the OCI distribution API."""
    if endpoint.azure is not None:
        inventory = open_inventory(endpoint)
        return ArmRegistryDeleter(endpoint, inventory.images, close=inventory.close)
    return OciManifestDeleter(RegistryClient(endpoint, read_retries=6))
