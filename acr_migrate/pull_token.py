"""A temporary pull credential of the source: a repository-scoped ACR token.

Instead of the source's admin user, or the source tenant's own identity on the target's
worker, the source tenant creates a *scope map* (``content/read`` and ``metadata/read`` on each
repository in scope), a *token* using it, and a password with an expiry; the password goes
only into a Prefect ``Secret`` block, whose name the source endpoint's ``pull_token_block``
gives the target. At cutover the token, the scope map and the block are deleted.

This module is what needs no Azure: the names, the scope map's actions, the options, what a
grant or a revocation reports. ``acr_migrate/azure/pull_token.py`` talks to ARM.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from acr_migrate.filters import FilterError, ImageFilter
from acr_migrate.models import ConfigError

#: What a pull needs of a repository (docs: "Create a token with repository-scoped
#: permissions": ``content/read`` pulls an artifact, ``metadata/read`` lists tags/manifests).
PULL_ACTIONS = ("content/read", "metadata/read")
#: Token names (ARM spec ``Tokens_Create``: 5-50 of ``[a-zA-Z0-9-]``).
TOKEN_NAME_RE = re.compile(r"^[a-zA-Z0-9-]{5,50}$")
#: Scope map names (ARM spec ``ScopeMaps_Create``: 5-50 of ``[a-zA-Z0-9_-]``).
SCOPE_MAP_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{5,50}$")
#: Prefect block names: lowercase letters, digits and dashes.
BLOCK_NAME_RE = re.compile(r"^[a-z0-9-]+$")
#: What the scope map says of itself (seen in the portal next to the registry's own maps).
DESCRIPTION = "acr-migrate: temporary pull access for the migration (revoke-pull-token deletes it)"


class PullLogin(BaseModel):
    """A token's username and password (a ``SecretStr``: never printed), and when it expires."""

    model_config = ConfigDict(frozen=True)

    username: str
    password: SecretStr
    expires: datetime | None = None

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires is not None and self.expires <= (now or datetime.now(UTC))


#: Returns the pull login kept in the block of that name (the Prefect layer reads blocks).
PullTokenResolver = Callable[[str], PullLogin]


def no_pull_tokens(block: str) -> PullLogin:
    """The resolver outside Prefect: a block can only be read by a Prefect run."""
    raise ConfigError(
        f"pull_token_block {block!r}: a pull-token block is read by the Prefect layer; run the "
        "import as a flow (the CLI does)"
    )


def default_block_name(source_name: str) -> str:
    """``acr-migrate-pull-<source>`` in the characters a block name allows."""
    return "acr-migrate-pull-" + (re.sub(r"[^a-z0-9-]+", "-", source_name.lower()).strip("-"))


def scope_map_actions(repositories: Iterable[str]) -> list[str]:
    """The scope map's actions: pull (content and metadata read) on each repository, sorted,
    each once. No wildcard: exactly the repositories named."""
    names = sorted({r.strip() for r in repositories if r.strip()})
    return [f"repositories/{name}/{action}" for name in names for action in PULL_ACTIONS]


def repositories_of(actions: Iterable[str]) -> list[str]:
    """The repositories a scope map's actions name (the inverse of :func:`scope_map_actions`)."""
    found = set()
    for action in actions:
        if action.startswith("repositories/"):
            body = action.removeprefix("repositories/")
            for suffix in PULL_ACTIONS:
                if body.endswith("/" + suffix):
                    found.add(body.removesuffix("/" + suffix))
    return sorted(found)


class PullTokenOptions(BaseModel):
    """What ``grant-pull-token`` creates (shown as a form in the Prefect UI)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: str = Field(
        default="acr-migrate-pull", description="Token name (its username); 5-50 of a-z A-Z 0-9 -"
    )
    scope_map: str = Field(default="", description="Scope map name; '<token>-scope-map' if empty")
    block: str = Field(
        default="", description="Prefect Secret block for the password; acr-migrate-pull-<source>"
    )
    include: list[str] = Field(
        default_factory=list, description="Only these repositories (globs or /regex/); all if empty"
    )
    exclude: list[str] = Field(default_factory=list, description="Leave these repositories out")
    from_manifest: bool = Field(
        default=False,
        description="The repositories of the source's newest export (then include/exclude)",
    )
    valid_days: float = Field(
        default=7.0, gt=0, le=365, description="Days until the password expires"
    )
    dry_run: bool = Field(default=False, description="Show what would be created; change nothing")

    @field_validator("token")
    @classmethod
    def _token_name(cls, value: str) -> str:
        if not TOKEN_NAME_RE.match(value):
            raise ValueError(f"token name {value!r}: 5-50 letters, digits or dashes")
        return value

    @field_validator("scope_map")
    @classmethod
    def _scope_map_name(cls, value: str) -> str:
        if value and not SCOPE_MAP_NAME_RE.match(value):
            raise ValueError(f"scope map name {value!r}: 5-50 letters, digits, '_' or '-'")
        return value

    @field_validator("block")
    @classmethod
    def _block_name(cls, value: str) -> str:
        if value and not BLOCK_NAME_RE.match(value):
            raise ValueError(f"block name {value!r}: lowercase letters, digits and dashes only")
        return value

    def scope_map_name(self) -> str:
        """As ``az acr token create --repository`` names the map it makes: ``<token>-scope-map``."""
        return self.scope_map or f"{self.token}-scope-map"

    def block_name(self, source_name: str) -> str:
        return self.block or default_block_name(source_name)

    def expiry(self, now: datetime | None = None) -> datetime:
        return (now or datetime.now(UTC)) + timedelta(days=self.valid_days)

    def select(self, repositories: Iterable[str]) -> list[str]:
        """The repositories in scope: include/exclude as the export's options match them."""
        try:
            image_filter = ImageFilter.from_patterns(self.include, self.exclude)
        except FilterError as exc:
            raise ConfigError(str(exc)) from None
        return sorted({r for r in repositories if image_filter.reason(r, "") is None})


class RevokeOptions(BaseModel):
    """What ``revoke-pull-token`` deletes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: str = Field(default="acr-migrate-pull", description="Token name")
    scope_map: str = Field(default="", description="Scope map name; '<token>-scope-map' if empty")
    block: str = Field(default="", description="Secret block; acr-migrate-pull-<source> if empty")
    dry_run: bool = Field(default=False, description="Show what would be deleted; delete nothing")

    def scope_map_name(self) -> str:
        return self.scope_map or f"{self.token}-scope-map"

    def block_name(self, source_name: str) -> str:
        return self.block or default_block_name(source_name)


@dataclass(frozen=True)
class TokenState:
    """What the source holds now of the token and its scope map (nothing secret)."""

    token_exists: bool = False
    token_scope_map: str = ""  # the scope map id the token uses
    scope_map_exists: bool = False
    actions: tuple[str, ...] = ()


class PullTokenGrant(BaseModel):
    """What a grant made: the run's result. The password is not in it (it is in the block)."""

    registry: str = Field(description="Login server of the source")
    username: str = Field(description="The token's name: the username to pull with")
    token: str
    scope_map: str
    block: str = Field(description="Prefect Secret block holding the password")
    repositories: list[str]
    expires: datetime | None = None
    token_created: bool = False
    scope_map_changed: bool = False
    dry_run: bool = False

    def message(self) -> str:
        if self.dry_run:
            return (
                f"dry run: would grant token {self.token} pull on {len(self.repositories)} "
                f"repositories of {self.registry} (password to block {self.block})"
            )
        return (
            f"token {self.token} (username {self.username}) may pull {len(self.repositories)} "
            f"repositories of {self.registry} until {_iso(self.expires)}; password in Secret "
            f"block {self.block}: set the source's pull_token_block = {self.block!r}"
        )


class PullTokenRevocation(BaseModel):
    """What a revocation removed (or, dry, would remove)."""

    registry: str
    removed: list[str] = Field(default_factory=list, description="'token x', 'scope map y', ...")
    dry_run: bool = False

    def message(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        what = ", ".join(self.removed) if self.removed else "nothing"
        return f"{verb} {what} of {self.registry}"


def _iso(when: datetime | None) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z") if when else "never"


def grant_plan(
    state: TokenState, options: PullTokenOptions, actions: list[str]
) -> list[tuple[str, str, str]]:
    """(what, name, change) rows of a grant: create, update or keep each resource."""
    same = state.scope_map_exists and sorted(state.actions) == sorted(actions)
    scope_change = "keep" if same else ("update" if state.scope_map_exists else "create")
    wanted_map = "/scopemaps/" + options.scope_map_name().lower()
    on_map = state.token_scope_map.lower().endswith(wanted_map)
    if not state.token_exists:
        token_change = "create"
    elif not on_map:
        token_change = "update (scope map)"
    else:
        token_change = "keep"
    return [
        ("scope map", options.scope_map_name(), scope_change),
        ("token", options.token, token_change),
        ("password1", options.token, "generate (the old one stops working)"),
    ]


def grant_markdown(
    registry: str,
    rows: list[tuple[str, str, str]],
    repositories: list[str],
    block: str,
    expires: datetime,
    dry_run: bool,
) -> str:
    head = "Would grant" if dry_run else "Granted"
    lines = [
        f"# {head} a pull token on `{registry}`",
        "",
        f"Password expires {_iso(expires)}; it is kept only in the Prefect Secret block `{block}`.",
        "",
        "| resource | name | change |",
        "|---|---|---|",
        *(f"| {what} | `{name}` | {change} |" for what, name, change in rows),
        "",
        f"{len(repositories)} repositories, each `content/read` + `metadata/read`:",
        "",
        *(f"- `{r}`" for r in repositories[:200]),
    ]
    if len(repositories) > 200:
        lines.append(f"- ... {len(repositories) - 200} more")
    return "\n".join(lines) + "\n"


def revoke_markdown(registry: str, found: list[str], dry_run: bool) -> str:
    head = "Would revoke" if dry_run else "Revoked"
    lines = [f"# {head} the pull token on `{registry}`", ""]
    lines += [f"- {item}" for item in found] or ["Nothing left to remove."]
    return "\n".join(lines) + "\n"
