"""What a new registry in another tenant cannot take over, as data: one rule per kind of gap.

Each rule picks the parts of the registry's document it concerns and says, for each, what
will be missing, why, and what the operator must do. ``what`` may name fields of the part:
``{name}``, ``{headers}``, ``{parts}``, ``{count}``, ``{action}`` (each rule's ``parts``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

Document = dict[str, Any]


class Gap(BaseModel):
    """Something the new registry cannot take over, and what the operator must do."""

    what: str
    why: str
    action: str


@dataclass(frozen=True)
class GapRule:
    parts: Callable[[Document], list[dict[str, Any]]]
    what: str
    why: str
    action: str


def _props(document: Document) -> dict[str, Any]:
    return dict(document["registry"].get("properties") or {})


def _named(kind: str, keep: Callable[[dict[str, Any]], bool] = lambda _: True) -> Any:
    """Each sub-resource of ``kind`` that ``keep`` accepts, as ``{name}``."""

    def parts(document: Document) -> list[dict[str, Any]]:
        return [{"name": x.get("name")} for x in document.get(kind) or [] if keep(x)]

    return parts


def _when(test: Callable[[Document], bool]) -> Any:
    """The document once, when ``test`` holds."""
    return lambda document: [{}] if test(document) else []


def _webhook_headers(document: Document) -> list[dict[str, Any]]:
    hooks = document.get("webhooks") or []
    named = [
        (h.get("name"), (h.get("callback") or {}).get("customHeaderNames") or []) for h in hooks
    ]
    return [{"name": name, "headers": ", ".join(headers)} for name, headers in named if headers]


def _webhook_uris(document: Document) -> list[dict[str, Any]]:
    hooks = document.get("webhooks") or []
    named = [(h.get("name"), (h.get("callback") or {}).get("serviceUriWithheld")) for h in hooks]
    return [{"name": name, "parts": " and ".join(parts)} for name, parts in named if parts]


def _permission_gaps(document: Document) -> list[dict[str, Any]]:
    return [
        {"name": g["what"], "action": g["action"]} for g in document.get("permission_gaps") or []
    ]


def _role_assignments(document: Document) -> list[dict[str, Any]]:
    found = document.get("role_assignments") or []
    return [{"count": len(found)}] if found else []


RULES: tuple[GapRule, ...] = (
    GapRule(
        _when(lambda d: (_props(d).get("encryption") or {}).get("status", "").lower() == "enabled"),
        what="customer-managed key encryption",
        why="the key vault and identity live in the source tenant",
        action="create a key and a user-assigned identity in the target tenant, then enable "
        "CMK on the new registry",
    ),
    GapRule(
        _when(lambda d: bool(d["registry"].get("identity"))),
        what="managed identities of the registry",
        why="identities belong to the source tenant",
        action="assign new identities in the target tenant",
    ),
    GapRule(
        _named("private_endpoint_connections"),
        what="private endpoint {name}",
        why="private endpoints live in the source tenant's virtual networks",
        action="create private endpoints to the new registry in the target tenant",
    ),
    GapRule(
        _named("credential_sets"),
        what="credential set {name}",
        why="its secrets live in a key vault of the source tenant",
        action="re-create it with a key vault of the target tenant",
    ),
    GapRule(
        _named("tokens"),
        what="passwords of token {name}",
        why="token passwords are secrets and are never read",
        action="generate passwords for {name} and hand them to its users",
    ),
    GapRule(
        _webhook_headers,
        what="custom headers of webhook {name} ({headers})",
        why="header values are usually credentials and are never copied",
        action="set the header values on the new webhook",
    ),
    GapRule(
        _webhook_uris,
        what="service URI of webhook {name} (its {parts})",
        why="receivers keep their keys there (e.g. ?code=): never copied through the hand-over",
        action="set the whole service URI on the new webhook (created disabled), then enable it",
    ),
    GapRule(
        _named(
            "cache_rules",
            lambda r: bool((r.get("properties") or {}).get("credentialSetResourceId")),
        ),
        what="cache rule {name}",
        why="it uses a credential set of the source tenant",
        action="re-create the credential set, then the cache rule",
    ),
    GapRule(
        _when(lambda d: _props(d).get("roleAssignmentMode") == "AbacRepositoryPermissions"),
        what="repository-scoped (ABAC) role assignments",
        why="their conditions name principals of the source tenant",
        action="re-create each assignment with its repository condition at cutover; the new "
        "registry gets the ABAC mode, but no assignment",
    ),
    GapRule(
        _permission_gaps,
        what="{name}",
        why="the documenting identity lacks {action}",
        action="document again with an identity that holds it (e.g. Contributor on the "
        "registry), or re-create this part by hand",
    ),
    GapRule(
        _role_assignments,
        what="{count} role assignment(s)",
        why="principals of the source tenant do not exist in the target tenant",
        action="re-create them at cutover from a principal mapping",
    ),
)


def gaps_of(document: Document) -> list[Gap]:
    """Everything the new registry will not have, each with what to do about it."""
    return [
        Gap(
            what=rule.what.format(**part),
            why=rule.why.format(**part),
            action=rule.action.format(**part),
        )
        for rule in RULES
        for part in rule.parts(document)
    ]
