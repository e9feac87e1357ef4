"""CNCF distribution registries (Debian ``docker-registry``) for the sandbox, over TLS.

"source" uses htpasswd (basic) auth, "target" uses token (bearer) auth served by
:mod:`sandbox.token_server`. Config, data and htpasswd files live under ``<root>/<name>/``.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sandbox._process import (
    SandboxError,
    free_port,
    http_answers,
    require_binary,
    start_service,
    write_secret,
)
from sandbox.certs import SandboxCerts
from sandbox.token_server import TokenServerSettings

HOST = "127.0.0.1"
TOKEN_ISSUER = "acr-migrate-sandbox"


@dataclass
class ServiceInfo:
    """A started background service: what it is, where it listens, its pid record."""

    name: str
    url: str
    port: int
    process: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_password() -> str:
    """A random strong password (URL-safe characters only, no quoting needed)."""
    return secrets.token_urlsafe(24)


def htpasswd_entry(username: str, password: str) -> str:
    """A bcrypt htpasswd line via ``htpasswd -niB`` (password on stdin, not argv).

    Cost 4 (the minimum): distribution checks bcrypt on every request, and cost 10 makes
    seeding ~10x slower. The password is random and the service local-only.
    """
    exe = require_binary("htpasswd", "apache2-utils")
    done = subprocess.run(
        [exe, "-niB", "-C", "4", username],
        input=password + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    line = done.stdout.strip()
    if done.returncode != 0 or not line.startswith(f"{username}:$2"):
        raise SandboxError(f"htpasswd failed: {done.stderr.strip()}")
    return line + "\n"


def registry_config(
    data_dir: Path, port: int, debug_port: int, certs: SandboxCerts, auth: dict[str, Any]
) -> dict[str, Any]:
    """The distribution 2.8 configuration (as a dict) for one sandbox registry."""
    return {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(data_dir)},
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {
            "addr": f"{HOST}:{port}",
            "secret": secrets.token_hex(16),
            "tls": {"certificate": str(certs.server_pem), "key": str(certs.server_key)},
            "headers": {"X-Content-Type-Options": ["nosniff"]},
            "debug": {"addr": f"{HOST}:{debug_port}"},
        },
        "health": {"storagedriver": {"enabled": True, "interval": "10s", "threshold": 3}},
        "auth": auth,
    }


def _start_registry(
    root: Path, name: str, certs: SandboxCerts, auth: dict[str, Any], extra: dict[str, Any]
) -> ServiceInfo:
    exe = require_binary("docker-registry", "docker-registry")
    home = root / name
    data_dir = home / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    port, debug_port = free_port(), free_port()
    config = registry_config(data_dir, port, debug_port, certs, auth)
    config_path = home / "config.yml"
    # JSON is valid YAML; the file holds no secret but the upload-state HMAC secret.
    write_secret(config_path, "# distribution config, written by sandbox\n" + json.dumps(config))
    url = f"https://{HOST}:{port}"
    proc = start_service(
        f"{name}-registry",
        [exe, "serve", str(config_path)],
        root / "logs",
        lambda: (
            http_answers(f"{url}/v2/", certs.ca_pem, ok=(401,))
            and http_answers(f"http://{HOST}:{debug_port}/debug/health", ok=(200,))
        ),
        what=f"{name} registry",
    )
    info = {
        "data_dir": str(data_dir),
        "config": str(config_path),
        "health_url": f"http://{HOST}:{debug_port}/debug/health",
        "debug_port": debug_port,
        **extra,
    }
    return ServiceInfo(name=f"{name}-registry", url=url, port=port, process=proc, extra=info)


def start_source_registry(
    root: Path, certs: SandboxCerts, username: str, password: str
) -> ServiceInfo:
    """Start the "source" registry with htpasswd basic auth for `username`."""
    htpasswd = root / "source" / "htpasswd"
    write_secret(htpasswd, htpasswd_entry(username, password))
    auth = {"htpasswd": {"realm": "sandbox-source", "path": str(htpasswd)}}
    return _start_registry(root, "source", certs, auth, {"auth": "basic", "username": username})


def start_token_server(
    root: Path, certs: SandboxCerts, service: str, users: dict[str, str]
) -> ServiceInfo:
    """Start :mod:`sandbox.token_server` over TLS as a background process."""
    settings = TokenServerSettings(
        issuer=TOKEN_ISSUER,
        service=service,
        users=users,
        signer_cert=certs.signer_pem,
        signer_key=certs.signer_key,
    )
    settings_path = root / "token-server" / "settings.json"
    write_secret(settings_path, json.dumps(settings.to_dict(), indent=2))
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "sandbox.token_server",
        "--config",
        str(settings_path),
        "--port",
        str(port),
        "--cert",
        str(certs.server_pem),
        "--key",
        str(certs.server_key),
    ]
    url = f"https://{HOST}:{port}"
    proc = start_service(
        "token-server",
        argv,
        root / "logs",
        lambda: http_answers(f"{url}/healthz", certs.ca_pem, ok=(200,)),
        what="token server",
        cwd=Path(__file__).parents[1],
    )
    extra = {"realm": f"{url}/token", "service": service, "issuer": TOKEN_ISSUER}
    return ServiceInfo(name="token-server", url=url, port=port, process=proc, extra=extra)


def start_target_registry(
    root: Path, certs: SandboxCerts, token_server: ServiceInfo, username: str
) -> ServiceInfo:
    """Start the "target" registry with distribution token auth against `token_server`."""
    auth = {
        "token": {
            "realm": token_server.extra["realm"],
            "service": token_server.extra["service"],
            "issuer": token_server.extra["issuer"],
            "rootcertbundle": str(certs.ca_pem),
        }
    }
    extra = {"auth": "token", "username": username, "token_realm": token_server.extra["realm"]}
    return _start_registry(root, "target", certs, auth, extra)
