"""Azure Resource Manager stand-in: Microsoft.ContainerRegistry, role assignments, resource
groups, subscriptions, AKS clusters (read only); ``importImage`` as a Location-polled LRO that
really copies.

Every call needs an Entra bearer token of the subscription's tenant with audience
``https://management.azure.com/`` or ``https://management.core.windows.net/``; RBAC is checked
against the role assignments in the state (Owner/Contributor write, Reader reads).

One module per idea: ``routes`` (paths, dispatch, the app), ``auth``, ``subscriptions``
(and resource groups), ``registries``, ``children`` (sub-resources), ``managed_clusters``
(AKS), ``rbac``, ``import_image``, ``operations`` (LROs), ``control`` (the ``/_sandbox``
knobs), ``state`` and ``common``.
"""

from sandbox.azure.arm.routes import create_app
from sandbox.azure.store import ROLE_IDS

__all__ = ["ROLE_IDS", "create_app"]
