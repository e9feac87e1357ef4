"""acr-import: ARM ``registries/importImage`` copies server side, across tenants.

One import per unique manifest, by digest (``repo@sha256:...``) with every tag in
``target_tags``: a tag that moves after the export cannot change what lands. The import LRO can
end "successfully" while its body says ``Failed``, so the digest is always confirmed in the
target afterwards through the data plane.
"""

from __future__ import annotations

import time
from typing import Any

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
from acr_migrate.azure.settings import AcrRegistryRef
from acr_migrate.errors import DigestMismatchError, RegistryHTTPError, parse_retry_after
from acr_migrate.models import ImportItem, ImportResult, ImportStatus

#: Username ACR expects when the password is an Entra access token.
TOKEN_USERNAME = "00000000-0000-0000-0000-000000000000"

_HINTS = {
    400: "the import request was refused (source image or parameters)",
    401: "the target-tenant identity could not authenticate to ARM",
    403: "the target-tenant identity may not import into this registry (needs Contributor)",
    404: "the source image or the target registry was not found",
    409: "a target tag already holds another digest (re-run with force to overwrite)",
    429: "ARM throttled the import",
}


def describe_arm_error(exc: HttpResponseError, image: str) -> RegistryHTTPError:
    """A per-image error from an ARM failure; keeps status and Retry-After for retries."""
    status = exc.status_code or 0
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or ""
    message = getattr(error, "message", None) or exc.message or str(exc)
    lowered = f"{code} {message}".lower()
    if status in (400, 409) and ("exist" in lowered or "conflict" in lowered or "force" in lowered):
        status, hint = 409, _HINTS[409]
    elif "not found" in lowered or "notfound" in lowered:
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
        source_username: str,
        source_password: SecretStr,
        polling_interval: float = 1.0,
    ):
        self.arm = arm
        self.target = target
        self.data_plane = target_data_plane
        self.source_registry_uri = source_registry_uri
        self._username = source_username
        self._password = source_password
        self.polling_interval = polling_interval

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
        repo = item.destination
        image = f"{item.repository}@{item.digest}"
        parameters = ImportImageParameters(
            source=ImportSource(
                registry_uri=self.source_registry_uri,
                source_image=image,
                credentials=ImportSourceCredentials(
                    username=self._username, password=self._password.get_secret_value()
                ),
            ),
            target_tags=[f"{repo}:{tag}" for tag in item.tags] or None,
            untagged_target_repositories=None if item.tags else [repo],
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
            raise describe_arm_error(exc, item.label) from exc
        self._confirm(repo, item)
        return ImportResult(
            repository=item.repository,
            digest=item.digest,
            tags=item.tags,
            status=ImportStatus.IMPORTED,
            seconds=round(time.monotonic() - started, 3),
        )

    def _confirm(self, repo: str, item: ImportItem) -> None:
        for reference in [item.digest, *item.tags]:
            found = self._digest_of(repo, reference)
            if found != item.digest:
                raise DigestMismatchError(
                    f"{repo}:{reference} resolves to {found or 'nothing'} in the target after an "
                    f"import that ARM reported as finished (expected {item.digest}); "
                    "the operation may have ended Failed in its body"
                )


def source_credentials(source: Any) -> tuple[str, SecretStr]:
    """Pull credentials of the source for ``registry_uri`` imports.

    The registry's own user (admin user, or a repository-scoped token) when ``password_env`` is
    set; else an Entra access token of the source tenant, as ACR accepts for cross-tenant imports.
    """
    password = source.password()
    if password is not None and source.username:
        return source.username, password
    if source.azure is None:
        raise ValueError(
            f"source {source.name!r}: no password_env and no Azure identity to pull with"
        )
    from acr_migrate.azure.credentials import tenant_credential

    credential = tenant_credential(source.azure.identity, ca_bundle=source.ca_bundle)
    token = credential.get_token("https://management.azure.com/.default").token
    return TOKEN_USERNAME, SecretStr(token)
