"""Azurite blob service (npm ``azurite``, installed in ``<repo>/node_modules`` by ``npm ci``)."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

from sandbox._process import (
    SandboxError,
    free_port,
    http_answers,
    start_service,
)
from sandbox.certs import SandboxCerts
from sandbox.registries import HOST, ServiceInfo

ACCOUNT_NAME = "devstoreaccount1"
# Azurite's well-known development account key (public, documented by Microsoft).
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
REPO_ROOT = Path(__file__).resolve().parents[1]


def azurite_binary() -> str:
    """Path of ``azurite-blob``: $AZURITE_BLOB_BIN, ./node_modules/.bin, or PATH."""
    env = os.environ.get("AZURITE_BLOB_BIN")
    if env:
        return env
    local = REPO_ROOT / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return str(local)
    found = shutil.which("azurite-blob")
    if found:
        return found
    if shutil.which("node") is None:
        raise SandboxError("`node` not found: install the `nodejs` and `npm` packages (Node 20)")
    raise SandboxError(f"azurite-blob not found: run `npm ci` in {REPO_ROOT}")


def connection_string(blob_endpoint: str, account_key: str = ACCOUNT_KEY) -> str:
    """Storage connection string for the devstoreaccount1 account at `blob_endpoint`."""
    protocol = blob_endpoint.split(":", 1)[0]
    return (
        f"DefaultEndpointsProtocol={protocol};AccountName={ACCOUNT_NAME};"
        f"AccountKey={account_key};BlobEndpoint={blob_endpoint};"
    )


def check_account_key(key: str) -> str:
    """`key` if it is a storage account key Azurite and the SDK accept (base64), else raise."""
    try:
        raw = base64.b64decode(key, validate=True)
    except ValueError:
        raw = b""
    if len(raw) < 16 or ":" in key or ";" in key:
        raise SandboxError("the storage account key must be base64 of at least 16 bytes")
    return key


def start_azurite(
    root: Path,
    certs: SandboxCerts | None = None,
    https: bool = False,
    account_key: str = ACCOUNT_KEY,
) -> ServiceInfo:
    """Start Azurite (blob only) with data in `<root>/azurite`.

    Its one account is devstoreaccount1, with Azurite's well-known key unless `account_key`
    says otherwise (``AZURITE_ACCOUNTS``, Azurite's README "Customized Storage Accounts & Keys").

    With `https` (needs `certs`) it serves TLS and accepts OAuth bearer tokens (``--oauth basic``)
    besides the shared key; clients then need the sandbox CA.
    """
    exe = azurite_binary()
    location = root / "azurite"
    location.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        exe,
        "--blobHost",
        HOST,
        "--blobPort",
        str(port),
        "--location",
        str(location),
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--loose",
        "--silent",
    ]
    scheme = "http"
    if https:
        if certs is None:
            raise SandboxError("HTTPS Azurite needs the sandbox certs")
        argv += [
            "--cert",
            str(certs.server_pem),
            "--key",
            str(certs.server_key),
            "--oauth",
            "basic",
        ]
        scheme = "https"
    url = f"{scheme}://{HOST}:{port}"
    ca = certs.ca_pem if (https and certs) else None
    proc = start_service(
        "azurite",
        argv,
        root / "logs",
        lambda: http_answers(f"{url}/{ACCOUNT_NAME}?comp=list", ca),
        timeout=60,
        env={"AZURITE_ACCOUNTS": f"{ACCOUNT_NAME}:{check_account_key(account_key)}"},
        cwd=location,
    )
    blob_endpoint = f"{url}/{ACCOUNT_NAME}"
    extra = {"blob_endpoint": blob_endpoint, "location": str(location), "account": ACCOUNT_NAME}
    return ServiceInfo(name="azurite", url=url, port=port, process=proc, extra=extra)
