"""The OCI distribution API (``/v2/...``) over httpx: one client, any registry."""

from acr_migrate.oci.client import Manifest, RegistryClient

__all__ = ["Manifest", "RegistryClient"]
