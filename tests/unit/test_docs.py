"""The README's config examples are configs the product accepts (docs true to the code)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from acr_migrate.settings import MigrationConfig

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.DOTALL)


def _whole_configs() -> list[str]:
    return [b for b in BLOCKS if "[source]" in b and "[target]" in b]


def test_readme_has_whole_config_examples() -> None:
    assert len(_whole_configs()) >= 2


@pytest.mark.parametrize("block", _whole_configs())
def test_readme_config_example_is_valid(block: str) -> None:
    text = re.sub(r"<[a-z ]+ port>", "5000", block)
    config = MigrationConfig.model_validate(tomllib.loads(text))
    assert config.source.name and config.target.name


def test_the_oci_example_is_what_sandbox_up_writes() -> None:
    from sandbox.api import OCI_CONFIG_TEMPLATE

    oci = [b for b in _whole_configs() if 'engine = "oci-copy"' in b and "azure" not in b]
    assert oci, "README shows no OCI-only config"
    written = OCI_CONFIG_TEMPLATE.format(
        source_url="https://127.0.0.1:<source port>",
        target_url="https://127.0.0.1:<target port>",
        source_user="source-admin",
        target_user="target-admin",
        source_env="SANDBOX_RAW_SOURCE_PASSWORD",
        target_env="SANDBOX_RAW_TARGET_PASSWORD",
        storage_env="ACR_MIGRATE_STORAGE_CONNECTION_STRING",
    )
    assert tomllib.loads(oci[0]) == tomllib.loads(written)


def test_the_compose_server_batches_its_writes_like_every_server_we_start() -> None:
    import yaml

    from acr_migrate.settings import PREFECT_SERVER_SETTINGS

    compose = yaml.safe_load((README.parent / "docker-compose.yml").read_text())
    env = compose["services"]["prefect-server"]["environment"]
    assert PREFECT_SERVER_SETTINGS.items() <= {k: str(v) for k, v in env.items()}.items()


def test_the_layout_names_only_files_that_exist() -> None:
    text = README.read_text()
    layout = text[text.index("## Layout") :]
    block = layout[layout.index("```") + 3 : layout.index("```", layout.index("```") + 3)]
    root = README.parent
    missing: list[str] = []
    package = ""
    for line in block.splitlines():
        if line and not line.startswith(" "):
            package = line.split()[0]  # "acr_migrate/", "tasks/", ...
            missing += [] if (root / package).is_dir() else [package]
            continue
        words = line.split()
        sub = words[0] if words and words[0].endswith("/") else ""
        missing += [] if not sub or (root / package / sub).is_dir() else [package + sub]
        for name in re.findall(r"[\w/]+\.py\b", line):
            found = [p for p in (root / package).rglob(Path(name).name) if ".venv" not in p.parts]
            missing += [] if found else [f"{package}{name}"]
    assert missing == []
