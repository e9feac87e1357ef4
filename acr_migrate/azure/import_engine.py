"""acr-import: ARM ``registries/importImage`` copies server side, across tenants.

One import per unique manifest, by digest (``repo@sha256:...``) with every tag in
``target_tags``: a tag that moves after the export cannot change what lands. The import LRO can
end "successfully" while its body says ``Failed``, so the digest is always confirmed in the
target afterwards through the data plane, with a bounded back-off (a geo-replica may lag).

With ``NoForce`` ARM refuses *any* existing target tag, so a retry after an import that landed
(a reset on a poll, a 5xx) is refused; the engine then checks the target and counts an image
that is already there as imported.

An image's referrers (signatures, SBOMs, attestations) are imported after it, one call each by
digest (``sourceImage: repo@sha256:...``, untagged, or with cosign's ``sha256-<hex>.sig`` tag),
each after its own subject; those the target holds already are not asked for again. ARM copies
the bytes, ``subject`` included, so the target's referrers API lists them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistry.models import (
    ImportImageParameters,
    ImportMode,
    ImportSource,
    ImportSourceCredentials,
)
from pydantic import SecretStr

from acr_migrate.azure.clients import AcrDataPlaneClient
from acr_migrate.azure.inventory import IMPORT_MANIFEST_LIMIT
from acr_migrate.azure.settings import AcrRegistryRef
from acr_migrate.errors import DigestMismatchError, RegistryHTTPError, parse_retry_after
from acr_migrate.models import ImportItem, ImportResult, ImportStatus
from acr_migrate.references import short_digest

#: Pauses before re-reading the target when the imported digest is not visible yet.
CONFIRM_DELAYS = (0.5, 1.0, 2.0, 4.0)

#: A fixed secret, or a function giving a fresh one per import (an Entra token).
PasswordSource = SecretStr | Callable[[], SecretStr]

_HINTS = {
    400: "the import request was refused (source image or parameters)",
    401: "the target-tenant identity could not authenticate to ARM",
    403: "the target-tenant identity may not import into this registry (needs Contributor)",
    404: "the source image or the target registry was not found",
    409: "a target tag already holds another digest (re-run with force to overwrite)",
    429: "ARM throttled the import",
}
_TOO_MANY_MANIFESTS = (
    "ACR imports indexes of at most 50 manifests: copy this image with the oci-copy engine"
)


def describe_arm_error(exc: HttpResponseError, image: str) -> RegistryHTTPError:
    """A per-image error from an ARM failure; keeps status and Retry-After for retries."""
    status = exc.status_code or 0
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or ""
    message = getattr(error, "message", None) or exc.message or str(exc)
    lowered = f"{code} {message}".lower()
    conflict = "already exist" in lowered or code.lower() in ("tagalreadyexists", "conflict")
    if status in (400, 409) and conflict:
        status, hint = 409, _HINTS[409]
    elif "more than 50 manifests" in lowered:
        hint = _TOO_MANY_MANIFESTS
    elif "not found" in lowered or "notfound" in lowered or "does not exist" in lowered:
        hint = _HINTS[404]
    else:
        hint = _HINTS.get(status, "")
    headers = getattr(exc.response, "headers", None) or {}
    detail = f"{image}: {code + ': ' if code else ''}{message.strip()}"
    if hint:
        detail += f" ({hint})"
    return RegistryHTTPError(
        "POST",
        "registries/importImage",
        status,
        detail,
        parse_retry_after(headers.get("Retry-After")),
    )


class AcrImportEngine:
    """Imports into an ACR through ARM in the target tenant."""

    name = "acr-import"

    def __init__(
        self,
        arm: ContainerRegistryManagementClient,
        target: AcrRegistryRef,
        target_data_plane: AcrDataPlaneClient,
        *,
        source_registry_uri: str,
        source_username: str | None,
        source_password: PasswordSource,
        polling_interval: float = 1.0,
        confirm_delays: Sequence[float] = CONFIRM_DELAYS,
    ):
        self.arm = arm
        self.target = target
        self.data_plane = target_data_plane
        self.source_registry_uri = source_registry_uri
        self._username = source_username
        self._password = source_password
        self.polling_interval = polling_interval
        self.confirm_delays = tuple(confirm_delays)

    def _source_password(self) -> str:
        """The pull secret for this import: an Entra token is asked for again each time (the
        credential caches it and renews it before it expires)."""
        password = self._password
        secret = password if isinstance(password, SecretStr) else password()
        return secret.get_secret_value()

    def close(self) -> None:
        self.arm.close()
        self.data_plane.close()

    def _digest_of(self, repository: str, reference: str) -> str | None:
        try:
            return str(self.data_plane.get_manifest_properties(repository, reference).digest)
        except ResourceNotFoundError:
            return None

    def import_image(self, item: ImportItem, *, force: bool = False) -> ImportResult:
        started = time.monotonic()
        if item.platforms > IMPORT_MANIFEST_LIMIT:
            # Refused before any call: ARM would fail it after a round trip and a poll.
            raise RegistryHTTPError(
                "POST",
                "importImage",
                400,
                f"{item.label}: an index of {item.platforms} platform manifests; "
                + _TOO_MANY_MANIFESTS,
            )
        repo = item.destination
        referrers_only = not item.tags and item.referrers
        if not referrers_only or self._digest_of(repo, item.digest) != item.digest:
            self._import(item.repository, repo, item.digest, item.tags, force, item.label)
        for referrer in item.referrers:
            if self._mismatch(repo, referrer.digest, referrer.tags) is None:
                continue  # there already, with its tags
            label = f"{item.label}: referrer {item.repository}@{short_digest(referrer.digest)}"
            self._import(item.repository, repo, referrer.digest, referrer.tags, force, label)
        return self._result(item, started)

    def _import(
        self,
        source_repo: str,
        repo: str,
        digest: str,
        tags: tuple[str, ...],
        force: bool,
        label: str,
    ) -> None:
        """One ``importImage`` of ``source_repo@digest`` into ``repo`` with ``tags`` (untagged
        when none), then the digest and tags confirmed in the target."""
        parameters = ImportImageParameters(
            source=ImportSource(
                registry_uri=self.source_registry_uri,
                source_image=f"{source_repo}@{digest}",
                credentials=ImportSourceCredentials(
                    username=self._username, password=self._source_password()
                ),
            ),
            target_tags=[f"{repo}:{tag}" for tag in tags] or None,
            untagged_target_repositories=None if tags else [repo],
            mode=ImportMode.FORCE if force else ImportMode.NO_FORCE,
        )
        try:
            poller = self.arm.registries.begin_import_image(
                self.target.resource_group,
                self.target.registry,
                parameters,
                polling_interval=self.polling_interval,
            )
            poller.result()
        except HttpResponseError as exc:
            error = describe_arm_error(exc, label)
            if error.status == 409 and self._mismatch(repo, digest, tags) is None:
                return  # an earlier attempt landed it
            raise error from exc
        self._confirm(repo, digest, tags)

    @staticmethod
    def _result(item: ImportItem, started: float) -> ImportResult:
        return ImportResult(
            repository=item.repository,
            digest=item.digest,
            tags=item.tags,
            status=ImportStatus.IMPORTED,
            seconds=round(time.monotonic() - started, 3),
            referrers=len(item.referrers),
        )

    def _mismatch(
        self, repo: str, digest: str, tags: tuple[str, ...]
    ) -> tuple[str, str | None] | None:
        """The first reference that does not resolve to ``digest``, and what it gave."""
        for reference in [digest, *tags]:
            found = self._digest_of(repo, reference)
            if found != digest:
                return reference, found
        return None

    def _confirm(self, repo: str, digest: str, tags: tuple[str, ...]) -> None:
        """The digest and every tag resolve to ``digest``, read again after each pause of
        ``confirm_delays`` while they do not (the read may hit a replica that is behind)."""
        mismatch = self._mismatch(repo, digest, tags)
        for pause in self.confirm_delays:
            if mismatch is None:
                return
            time.sleep(pause)
            mismatch = self._mismatch(repo, digest, tags)
        if mismatch is not None:
            reference, found = mismatch
            raise DigestMismatchError(
                f"{repo}:{reference} resolves to {found or 'nothing'} in the target after an "
                f"import that ARM reported as finished (expected {digest}); "
                "the operation may have ended Failed in its body"
            )
