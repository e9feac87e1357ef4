"""The config file: clear errors naming what is wrong, secrets only by reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from acr_migrate.models import ConfigError, RegistryEndpoint
from acr_migrate.settings import load_config

GOOD = """
env_file = "x.env"
[source]
name = "src"
url = "https://src.example:5000"
username = "u"
password_env = "T_SRC_PW"
ca_bundle = "ca.pem"
[target]
name = "dst"
url = "https://dst.example"
[storage]
connection_string_env = "T_CONN"
[migration]
concurrency = 4
include = ["team-a/*"]
"""


def write(tmp_path: Path, text: str, env: str = "T_SRC_PW=s3cret\n") -> Path:
    (tmp_path / "x.env").write_text(env)
    (tmp_path / "ca.pem").write_text("pem")
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_good_config_resolves_paths_and_loads_env(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("T_SRC_PW", raising=False)
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.source.ca_bundle == str(tmp_path / "ca.pem")
    assert cfg.source.password().get_secret_value() == "s3cret"  # type: ignore[union-attr]
    assert cfg.source.login_server == "src.example:5000"
    assert cfg.migration.concurrency == 4 and cfg.migration.include == ["team-a/*"]
    assert "s3cret" not in cfg.model_dump_json()


def test_env_file_does_not_override_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("T_SRC_PW", "from-env")
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.source.password().get_secret_value() == "from-env"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (('url = "https://dst.example"', 'url = "ftp://dst"'), "target.url"),
        (('url = "https://dst.example"', 'url = "https://u:p@dst"'), "must not carry credentials"),
        (("concurrency = 4", "concurrency = 0"), "migration.concurrency"),
        (('include = ["team-a/*"]', 'include = ["/(bad/"]'), "not a valid regular expression"),
        (("[storage]", "[storage]\nbogus = 1"), "storage.bogus"),
        (('env_file = "x.env"', 'env_file = "missing.env"'), "env_file"),
        (("[source]", "[source\n"), "not valid TOML"),
    ],
)
def test_bad_config_is_one_clear_error(
    tmp_path: Path, change: tuple[str, str], needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        load_config(write(tmp_path, GOOD.replace(*change)))


def test_missing_file_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="make sandbox-up"):
        load_config(tmp_path / "nope.toml")


def test_unset_password_variable_is_named(monkeypatch) -> None:
    monkeypatch.delenv("NOPE_PW", raising=False)
    endpoint = RegistryEndpoint(name="r", url="https://r", username="u", password_env="NOPE_PW")
    with pytest.raises(ConfigError, match="NOPE_PW is not set"):
        endpoint.password()
