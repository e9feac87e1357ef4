"""Compare a provisioned target with its source, in what provisioning mirrors."""

from __future__ import annotations

from typing import Any

from acr_migrate.azure.provision import CHILDREN, MIRRORED_PROPERTIES, child_bodies, clean_policies


def compare(source: dict[str, Any], target: dict[str, Any]) -> list[str]:
    """Field-by-field differences in what provisioning mirrors (empty when all match)."""
    diffs: list[str] = []
    s_reg, t_reg = source["registry"], target["registry"]
    if s_reg["sku"]["name"] != t_reg["sku"]["name"]:
        diffs.append(f"sku: {s_reg['sku']['name']} != {t_reg['sku']['name']}")
    if (s_reg.get("tags") or {}) != (t_reg.get("tags") or {}):
        diffs.append(f"tags: {s_reg.get('tags')} != {t_reg.get('tags')}")
    s_props, t_props = s_reg.get("properties", {}), t_reg.get("properties", {})
    for key in MIRRORED_PROPERTIES:
        left, right = s_props.get(key), t_props.get(key)
        if key == "policies" and isinstance(left, dict) and isinstance(right, dict):
            left, right = clean_policies(left), clean_policies(right)
        if left != right:
            diffs.append(f"properties.{key}: {left!r} != {right!r}")
    wanted = {(kind, name) for kind, name, _ in child_bodies(source, "")}
    got = {(kind, c["name"]) for kind in CHILDREN for c in target.get(kind) or []}
    diffs += [f"{kind}/{name}: missing in the target" for kind, name in sorted(wanted - got)]
    return diffs
