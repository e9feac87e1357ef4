"""The Azure path: tenant credentials, the acr inventory, the acr-import engine, provisioning."""
