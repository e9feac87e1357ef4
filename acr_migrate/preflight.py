"""Check a configuration before anything runs: each problem is one line naming what to fix.

A flow calls these first, on the worker that holds the secrets, so a wrong secret, tenant,
registry, CA, container or address fails the run at once with that line, before anything is
read or written, instead of deep inside an image with a traceback.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from acr_migrate.azure.secrets import SecretResolver
from acr_migrate.errors import RegistryHTTPError, classify
from acr_migrate.models import ConfigError, RegistryEndpoint
from acr_migrate.pull_token import PullLogin, PullTokenResolver
from acr_migrate.registry import Registry, open_registry
from acr_migrate.settings import EngineName, ImportOptions

if TYPE_CHECKING:
    from acr_migrate.storage import StorageSettings

#: Seconds a check waits for an address that does not answer.
CONNECT_TIMEOUT = 10.0


#: How a run that did not start says why (the CLI prints one problem per line).
REFUSED = "preflight: "
SEPARATOR = "; "


def refusal(problems: Sequence[str]) -> str:
    """The state message of a run refused by its preflight."""
    return REFUSED + SEPARATOR.join(problems)


def problems_of(message: str | None) -> list[str]:
    """The problems in a refused run's state message (empty for any other message)."""
    if not message or not message.startswith(REFUSED):
        return []
    return message.removeprefix(REFUSED).split(SEPARATOR)


def _cause_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _tls_problem(exc: BaseException) -> str | None:
    for item in _cause_chain(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            return item.verify_message or str(item)
        if "CERTIFICATE_VERIFY_FAILED" in str(item):
            return "certificate verify failed"
    return None


def _connection_problem(where: str, url: str, exc: BaseException, ca_setting: str) -> str:
    tls = _tls_problem(exc)
    if tls:
        return (
            f"{where} {url}: its TLS certificate is not trusted ({tls}): set {ca_setting} to "
            "the CA that signed it"
        )
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{where} {url} does not answer ({reason[:200]}): check the address and the network"


def check_registry(
    endpoint: RegistryEndpoint, role: str, token: PullLogin | None = None
) -> list[str]:
    """Can this worker reach ``endpoint`` and sign in (with its pull ``token`` if given)?
    ``role`` is "source" or "target"."""
    from acr_migrate.oci.client import RegistryClient

    where = f"{role} registry {endpoint.name!r}"
    try:
        login = (token.username, token.password) if token else None
        username = token.username if token else endpoint.username
        if token is None:
            endpoint.password()
    except ConfigError as exc:
        return [f"{role} {exc}"]
    try:
        with RegistryClient(
            endpoint, timeout=CONNECT_TIMEOUT, read_retries=2, credentials=login
        ) as client:
            client.ping()
    except RegistryHTTPError as exc:
        if classify(exc).transient:
            return []  # throttled or briefly down: the run's own retries deal with that
        if exc.status == 401:
            secret = (
                f"the pull token in block {endpoint.pull_token_block!r} (revoked? run "
                "grant-pull-token again)"
                if token
                else f"the secret in ${endpoint.password_env}"
                if endpoint.password_env
                else "a secret"
            )
            return [
                f"{where} at {endpoint.url} refused the credentials of "
                f"{username or '(anonymous)'}: check the username and {secret} "
                "(wrong or expired)"
            ]
        if exc.status == 403:
            return [
                f"{where} at {endpoint.url}: {endpoint.username or 'anonymous'} may not list the "
                "registry (HTTP 403): grant it pull (source) or push (target) rights"
            ]
        return [
            f"{where} at {endpoint.url} is not a container registry (GET /v2/ -> HTTP "
            f"{exc.status}): check url"
        ]
    except (httpx.TransportError, ssl.SSLError, OSError) as exc:
        return [_connection_problem(where, endpoint.url, exc, f"[{role}] ca_bundle")]
    return []


def check_azure_registry(
    registry: Registry, role: str, *, must_exist: bool, phase: str | None = None
) -> tuple[list[str], bool]:
    """Can the registry's tenant identity sign in to ARM, does the registry exist there, and
    (with ``phase``) may the identity do what that phase does? Returns the problems and
    whether the registry exists."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
    )

    if not registry.is_azure:
        return [], False
    ref = registry.azure().ref
    identity = ref.identity
    who = f"{role} identity {identity.client_id or identity.kind} of tenant {identity.tenant_id}"
    where = (
        f"{role} registry {ref.registry!r} (resource group {ref.resource_group!r}, "
        f"subscription {ref.subscription_id})"
    )

    def rights() -> list[str]:
        if phase is None:
            return []
        from acr_migrate.azure.permissions import missing_rights

        return missing_rights(client, ref, phase)[0]

    try:
        client = registry.azure().management()
        with client:
            try:
                client.registries.get(ref.resource_group, ref.registry)
            except HttpResponseError as exc:
                # Refused: say which role is missing where, when the phase is known.
                if exc.status_code == 403 and (blocking := rights()):
                    return blocking, True
                raise
            if blocking := rights():
                return blocking, True
    except ConfigError as exc:
        return [f"{role}: {exc}"], False
    except ClientAuthenticationError as exc:
        if _tls_problem(exc):  # the authority's certificate, before Entra said anything
            where_entra = f"{who} cannot sign in: Entra"
            return [
                _connection_problem(
                    where_entra, identity.authority_host, exc, f"[{role}] ca_bundle"
                )
            ], False
        return [f"{who} cannot sign in: {_aad_reason(exc)}"], False
    except ResourceNotFoundError:
        if must_exist:
            return [
                f"{where} does not exist: check [{role}.azure] registry (or provision it)"
            ], False
        return [], False
    except HttpResponseError as exc:
        code = getattr(getattr(exc, "error", None), "code", None) or exc.status_code
        return [f"{where}: ARM refused {who} ({code}): {_first_line(exc.message)}"], False
    except (ServiceRequestError, httpx.TransportError, OSError) as exc:
        return [
            _connection_problem(f"{role} ARM", ref.resource_manager, exc, f"[{role}] ca_bundle")
        ], False
    return [], True


def _first_line(text: Any) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0][:300] if lines else ""


def _aad_reason(exc: BaseException) -> str:
    text = _first_line(getattr(exc, "message", None) or exc)
    hints = {
        "AADSTS90002": "the tenant does not exist: check tenant_id",
        "AADSTS700016": "no such application in this tenant: check tenant_id and client_id",
        "AADSTS7000215": "the client secret is wrong: check the secret",
        "AADSTS7000222": "the client secret has expired: create a new one",
    }
    for code, hint in hints.items():
        if code in text:
            return f"{hint} ({code})"
    return text or type(exc).__name__


def check_storage(settings: StorageSettings, *, container_must_exist: bool) -> list[str]:
    """Can this worker reach the hand-over storage, and is the container there if it must be?"""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
    )

    from acr_migrate.storage import BlobStore

    where = f"storage container {settings.container!r}"
    try:
        store = BlobStore(settings)
    except ConfigError as exc:
        return [str(exc)]
    except ValueError as exc:  # a connection string the SDK cannot parse
        return [f"storage: the connection string is not valid ({_first_line(exc)})"]
    try:
        exists = store.container.exists(timeout=int(CONNECT_TIMEOUT))
    except ClientAuthenticationError as exc:
        return [f"{where}: the storage account refused the key or token ({_first_line(exc)})"]
    except ServiceRequestError as exc:
        return [_connection_problem("storage", store.service.url, exc, "the storage CA")]
    except HttpResponseError as exc:
        return [f"{where}: {_first_line(exc.message)}"]
    finally:
        store.service.close()
    if container_must_exist and not exists:
        return [
            f"{where} does not exist in {store.service.url}: export first, or fix [storage] "
            "container"
        ]
    return []


@dataclass(frozen=True)
class Need:
    """A registry a run needs: ``must_exist`` (else a registry still to be provisioned is
    fine), ``reach`` (the worker itself talks to it; acr-import's source is pulled by ARM,
    not by the worker), ``arm`` (the worker holds the registry's tenant identity: the
    target worker never holds the source's) and ``phase`` (the rights its identity needs, as
    ``acr_migrate.azure.permissions.PHASES`` names them)."""

    endpoint: RegistryEndpoint
    role: str
    must_exist: bool = True
    reach: bool = True
    arm: bool = True
    phase: str | None = None
    pull: bool = False


def check_need(
    need: Need,
    secrets: SecretResolver | None = None,
    pull_tokens: PullTokenResolver | None = None,
) -> list[str]:
    """The problems of one registry a run needs (client secrets from ``secrets``; with
    ``need.pull``, the endpoint's pull token from ``pull_tokens``)."""
    endpoint = need.endpoint
    registry = open_registry(endpoint, secrets=secrets, pull_tokens=pull_tokens)
    if need.pull and endpoint.pull_token_block:
        try:
            token = registry.pull_token()
        except ConfigError as exc:
            return [f"{need.role} {exc}"]
        return check_registry(endpoint, need.role, token) if need.reach else []
    if registry.is_azure and need.arm:
        problems, exists = check_azure_registry(
            registry, need.role, must_exist=need.must_exist, phase=need.phase
        )
        # Without a registry user the worker reaches the data plane with its identity only.
        if problems or not exists or not need.reach or not endpoint.username:
            return problems
    elif not need.reach:
        try:
            endpoint.password()
        except ConfigError as exc:
            return [f"{need.role} {exc}"]
        return []
    return check_registry(endpoint, need.role)


def check_run(
    storage: StorageSettings | None,
    needs: Sequence[Need],
    *,
    container_must_exist: bool = True,
    secrets: SecretResolver | None = None,
    pull_tokens: PullTokenResolver | None = None,
) -> list[str]:
    """Every problem of a run that needs ``storage`` and the registries in ``needs``; client
    secrets come from ``secrets`` (else the environment), pull tokens from ``pull_tokens``."""
    problems: list[str] = []
    if storage is not None:
        problems += check_storage(storage, container_must_exist=container_must_exist)
    for need in needs:
        problems += check_need(need, secrets, pull_tokens)
    return problems


def import_needs(
    source: RegistryEndpoint, target: RegistryEndpoint, options: ImportOptions
) -> list[Need]:
    """What a ``target-import`` run needs of its two registries."""
    copies = options.engine is EngineName.OCI_COPY
    return [
        # acr-import: ARM pulls from the source; the worker needs only its credential.
        Need(source, "source", reach=copies, arm=False, pull=True),
        # A dry run may plan against a target that is not provisioned yet.
        Need(
            target,
            "target",
            must_exist=not options.dry_run,
            phase=None if copies or options.dry_run else "import",
        ),
    ]
