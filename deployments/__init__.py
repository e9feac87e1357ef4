"""How the flows become deployments: see ``prefect.yaml`` at the repository root."""
