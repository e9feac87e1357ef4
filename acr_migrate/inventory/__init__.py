"""The inventory port: read what a registry holds. Adapters: ``oci`` (any registry)."""

from acr_migrate.inventory.base import Inventory, TargetState
from acr_migrate.inventory.oci import OciInventory

__all__ = ["Inventory", "OciInventory", "TargetState"]
