"""Local stand-in for Entra ID, Azure Resource Manager and the ACR data plane.

One background process (``python -m sandbox.azure --root <root>``) serves several HTTPS ports
from one asyncio loop, sharing in-memory state persisted to ``<root>/azure/state.json``:

- Entra ID (the "authority host"): OIDC discovery, JWKS, ``/{tenant}/oauth2/v2.0/token``
  (client_credentials with a secret or a federated ``client_assertion``), and an App-Service
  style managed-identity endpoint per tenant (``/{tenant}/msi/token``).
- ARM: ``Microsoft.ContainerRegistry/registries`` and sub-resources, ``importImage`` (a
  Location-polled LRO that really copies between the backing registries), role assignments,
  resource groups, and ``/_sandbox/faults`` (429/5xx/latency/import rate limit/failed LROs).
- One ACR data plane per bound registry ("source", "target"): ``/oauth2/exchange``,
  ``/oauth2/token``, ``/acr/v1/...`` and a streaming ``/v2/`` passthrough to the backing
  CNCF distribution registry.

:func:`sandbox.azure.bootstrap.bootstrap` creates the initial state (tenants, subscriptions, the
source registry and its non-default configuration) and is called by ``sandbox.api.up``.
"""
