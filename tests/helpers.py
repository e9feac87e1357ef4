"""Small helpers shared by the integration and end-to-end tests."""

from __future__ import annotations

import uuid
from pathlib import Path

from acr_migrate.models import RegistryEndpoint
from sandbox.oci_push import Endpoint


def uid() -> str:
    """A short unique suffix, so tests sharing one sandbox never collide."""
    return uuid.uuid4().hex[:8]


def push_endpoint(endpoint: RegistryEndpoint) -> Endpoint:
    """The sandbox pusher's view of a product endpoint (password read from the env)."""
    password = endpoint.password()
    assert password is not None
    return Endpoint(
        url=endpoint.url,
        username=endpoint.username,
        password=password.get_secret_value(),
        ca_bundle=Path(endpoint.ca_bundle or ""),
    )
