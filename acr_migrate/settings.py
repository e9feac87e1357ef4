"""Settings of the flows (rendered as forms in the Prefect UI) and the config file that
fills them for the CLI.

The config file is TOML::

    env_file = "sandbox.env"        # optional, relative to this file; KEY=VALUE lines
    [source]  name, url, username, password_env, ca_bundle
    [target]  name, url, username, password_env, ca_bundle
    [storage] container, connection_string_env | account_url
    [migration] engine, concurrency, adaptive, include, exclude, force, dry_run, retries,
                check_drift

Secrets never live in it: ``password_env`` and ``connection_string_env`` name environment
variables (set on the worker, or loaded from ``env_file`` by the CLI).
"""

from __future__ import annotations

import os
import tomllib
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from acr_migrate.filters import FilterError, ImageFilter
from acr_migrate.models import ConfigError, RegistryEndpoint
from acr_migrate.storage import StorageSettings


class EngineName(StrEnum):
    """How images reach the target."""

    ACR_IMPORT = "acr-import"
    OCI_COPY = "oci-copy"


class ExportOptions(BaseModel):
    """Options of the source-tenant export."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dry_run: bool = Field(default=False, description="Inventory and report only; write no blob")
    include: list[str] = Field(
        default_factory=list, description="Only these repositories (globs or /regex/)"
    )
    exclude: list[str] = Field(default_factory=list, description="Leave these repositories out")
    freeze: bool = Field(
        default=False,
        description="Freeze the repositories in scope first (no pushes while they migrate; ACR "
        "only); unfreeze-source gives their locks back",
    )


class ImportOptions(BaseModel):
    """Options of the target-tenant import."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: EngineName = Field(default=EngineName.OCI_COPY, description="How images are copied")
    concurrency: int = Field(default=8, ge=1, le=256, description="Images imported at once")
    adaptive: bool = Field(
        default=True,
        description="Start fewer images at once, grow while the target keeps up, cut on "
        "throttling (up to concurrency); off: always concurrency",
    )
    include: list[str] = Field(
        default_factory=list, description="Only images matching: repo glob, repo:tag glob, /regex/"
    )
    exclude: list[str] = Field(default_factory=list, description="Leave matching images out")
    force: bool = Field(default=False, description="Overwrite target tags that hold another digest")
    dry_run: bool = Field(default=False, description="Plan and report only; write nothing")
    retries: int = Field(
        default=6, ge=0, le=20, description="Retries of throttled/transient faults"
    )
    retry_delay_seconds: float = Field(
        default=1.0, ge=0, le=60, description="First retry delay; doubles each retry (with jitter)"
    )
    check_drift: bool = Field(
        default=True,
        description="Validation also reads the source (one HEAD per tag) and reports tags "
        "moved or deleted there since the export, as drift, not failures",
    )

    def image_filter(self) -> ImageFilter:
        try:
            return ImageFilter.from_patterns(self.include, self.exclude)
        except FilterError as exc:
            raise ConfigError(str(exc)) from None


#: Settings for every Prefect server the project starts (the sandbox's, a CLI's temporary one,
#: the compose file's, the benchmarks'): task-run states and events are written in batches.
#: One transaction per event falls behind thousands of images, and the server's broker then
#: drops states for good (README, "Prefect's own cost per image"). Whole seconds only: the
#: recorder truncates the interval.
PREFECT_SERVER_SETTINGS = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "500",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "500",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
}


class CutoverOptions(BaseModel):
    """Options of the source deletion (shown as a form in the Prefect UI)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    include: list[str] = Field(
        default_factory=list,
        description="Only these repositories of the manifest (globs or /regex/); all if empty",
    )
    exclude: list[str] = Field(default_factory=list, description="Keep these repositories")
    require_validation: bool = Field(
        default=True,
        description="Refuse unless the newest validation next to the manifest found no gap",
    )
    approval_timeout_seconds: int = Field(
        default=3600, ge=1, le=7 * 24 * 3600, description="No answer within this time means no"
    )
    dry_run: bool = Field(default=False, description="Show what would be deleted; ask nothing")


class PrefectSettings(BaseModel):
    """Which Prefect server the CLI's runs go to (``PREFECT_API_URL`` wins when set)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_url: str | None = None


class MigrationConfig(BaseModel):
    """The whole config file."""

    model_config = ConfigDict(extra="forbid")

    env_file: str | None = None
    source: RegistryEndpoint
    target: RegistryEndpoint
    storage: StorageSettings = Field(default_factory=StorageSettings)
    migration: ImportOptions = Field(default_factory=ImportOptions)
    prefect: PrefectSettings = Field(default_factory=PrefectSettings)


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a dotenv file that bash can also ``source``.

    Blank lines and ``#`` comments are skipped; ``export`` before a key and one pair of
    matching quotes around a value are allowed (``KEY='a;b'``); anything else is an error.
    """
    out: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key.isidentifier():
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key] = value
    return out


def load_env_file(path: Path) -> None:
    """Load a dotenv file (see :func:`read_env_file`) without overriding what is set."""
    for key, value in read_env_file(path).items():
        os.environ.setdefault(key, value)


def load_config(path: Path | str, *, load_env: bool = True) -> MigrationConfig:
    """Read the TOML config; relative paths in it are relative to the file.

    With ``load_env`` the ``env_file`` it names is loaded into the environment (what the CLI
    and a worker want); without, it is only checked to exist.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found (`make sandbox-up` writes the sandbox's)")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    base = path.parent.resolve()
    for section in ("source", "target"):
        ca = raw.get(section, {}).get("ca_bundle")
        if ca:
            raw[section]["ca_bundle"] = str((base / ca).resolve())
    try:
        config = MigrationConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None
    if config.env_file:
        env_path = (base / config.env_file).resolve()
        if not env_path.is_file():
            raise ConfigError(f"{path}: env_file {env_path} not found")
        if load_env:
            load_env_file(env_path)
    config.migration.image_filter()  # fail early on a bad pattern
    return config
