"""The sandbox's secrets file: bash can ``source`` it and the product reads the same values."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from acr_migrate.models import ConfigError
from acr_migrate.settings import read_env_file
from sandbox._process import SandboxError
from sandbox.api import env_file_text

VALUES = {
    "ACR_MIGRATE_STORAGE_CONNECTION_STRING": (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a+b/c==;"
        "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    ),
    "ACR_MIGRATE_SOURCE_PASSWORD": "p@ss word$(x)`y`&|<>",
}


def test_bash_and_the_product_read_the_same_values(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.env"
    path.write_text(env_file_text(VALUES))
    assert read_env_file(path) == VALUES
    for key, value in VALUES.items():
        done = subprocess.run(
            ["bash", "-c", f'set -a; source "{path}"; set +a; printf %s "${key}"'],
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout == value


def test_export_lines_and_double_quotes_are_read(tmp_path: Path) -> None:
    path = tmp_path / "x.env"
    path.write_text("# comment\n\nexport A='1;2'\nB=\"x y\"\nC=plain\n")
    assert read_env_file(path) == {"A": "1;2", "B": "x y", "C": "plain"}


def test_a_line_without_a_key_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.env"
    path.write_text("A=1\nnot a setting\n")
    with pytest.raises(ConfigError, match=r"bad.env:2: expected KEY=VALUE"):
        read_env_file(path)


def test_a_value_that_cannot_be_quoted_is_refused() -> None:
    with pytest.raises(SandboxError, match="QUOTED"):
        env_file_text({"QUOTED": "it's"})
