"""The Prefect variables the deployments take their parameter defaults from (no secrets).

``python -m deployments.variables -c migrate.toml`` writes ``acr_migrate_source``,
``acr_migrate_target`` and ``acr_migrate_storage`` (JSON values) from the config file to the
Prefect API in ``PREFECT_API_URL``. ``prefect.yaml`` reads them when ``prefect deploy`` runs;
they are also visible and editable on the UI's Variables page.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from prefect.variables import Variable

from acr_migrate.settings import MigrationConfig, load_config

VARIABLES = {
    "source": "acr_migrate_source",
    "target": "acr_migrate_target",
    "storage": "acr_migrate_storage",
}


def variable_values(config: MigrationConfig) -> dict[str, dict[str, Any]]:
    """Variable name -> value: the endpoints and storage exactly as the flows take them."""
    parts = {"source": config.source, "target": config.target, "storage": config.storage}
    return {
        VARIABLES[role]: model.model_dump(mode="json", exclude_none=True)
        for role, model in parts.items()
    }


def save_variables(config: MigrationConfig) -> dict[str, dict[str, Any]]:
    """Create or overwrite the three variables; returns what was written."""
    values = variable_values(config)
    for name, value in values.items():
        Variable.set(name, value, overwrite=True)  # type: ignore[arg-type]
    return values


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the deployments' default endpoints")
    parser.add_argument("-c", "--config", type=Path, required=True, help="acr-migrate TOML file")
    args = parser.parse_args(argv)
    for name in save_variables(load_config(args.config)):
        print(f"saved variable {name}")


if __name__ == "__main__":
    main()
