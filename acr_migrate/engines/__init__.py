"""The engine port: put one image into the target. Adapters: ``oci-copy``."""

from acr_migrate.engines.base import Engine
from acr_migrate.engines.oci_copy import OciCopyEngine

__all__ = ["Engine", "OciCopyEngine"]
