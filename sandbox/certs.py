"""Sandbox PKI: one trustme CA, a server cert for 127.0.0.1/localhost, a token-signing cert."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import trustme

SERVER_IDENTITIES = ("127.0.0.1", "localhost")
SIGNER_IDENTITY = "token-signer.sandbox.invalid"


@dataclass(frozen=True)
class SandboxCerts:
    """Paths of the sandbox PKI files under the sandbox root."""

    ca_pem: Path
    ca_key: Path
    server_pem: Path
    server_key: Path
    signer_pem: Path
    signer_key: Path
    cert_dir: Path  # for `skopeo --cert-dir`: contains ca.crt


def cert_paths(root: Path) -> SandboxCerts:
    """Where the PKI files of `root` live (whether or not they exist yet)."""
    return SandboxCerts(
        ca_pem=root / "ca.pem",
        ca_key=root / "ca-key.pem",
        server_pem=root / "server.pem",
        server_key=root / "server-key.pem",
        signer_pem=root / "token-signer.pem",
        signer_key=root / "token-signer-key.pem",
        cert_dir=root / "certs.d",
    )


def _write(path: Path, data: bytes, secret: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _issue(ca: trustme.CA, cert: Path, key: Path, *identities: str, cn: str) -> None:
    leaf = ca.issue_cert(*identities, common_name=cn)
    _write(cert, b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    _write(key, leaf.private_key_pem.bytes(), secret=True)


def ensure_certs(root: Path) -> SandboxCerts:
    """Create (or reuse) the CA, server and token-signer certificates under `root`.

    Files: ca.pem, ca-key.pem (0600), server.pem (leaf), server-key.pem, token-signer.pem,
    token-signer-key.pem, certs.d/ca.crt. Existing files are reused; a missing leaf is re-issued
    from the persisted CA; a missing CA key means everything is regenerated.
    """
    paths = cert_paths(root)
    root.mkdir(parents=True, exist_ok=True)
    if paths.ca_pem.exists() and paths.ca_key.exists():
        ca = trustme.CA.from_pem(paths.ca_pem.read_bytes(), paths.ca_key.read_bytes())
        fresh = False
    else:
        ca = trustme.CA(organization_name="acr-migrate sandbox")
        _write(paths.ca_pem, ca.cert_pem.bytes())
        _write(paths.ca_key, ca.private_key_pem.bytes(), secret=True)
        fresh = True
    if fresh or not (paths.server_pem.exists() and paths.server_key.exists()):
        _issue(ca, paths.server_pem, paths.server_key, *SERVER_IDENTITIES, cn="127.0.0.1")
    if fresh or not (paths.signer_pem.exists() and paths.signer_key.exists()):
        _issue(ca, paths.signer_pem, paths.signer_key, SIGNER_IDENTITY, cn="sandbox token signer")
    ca_crt = paths.cert_dir / "ca.crt"
    if fresh or not ca_crt.exists():
        _write(ca_crt, paths.ca_pem.read_bytes())
    return paths
