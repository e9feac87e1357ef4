"""Prefect tasks: thin, retried, named calls into the ``acr_migrate`` core."""
