"""The preflight's message contract and the Entra errors it explains."""

from __future__ import annotations

from azure.core.exceptions import ClientAuthenticationError

from acr_migrate.preflight import _aad_reason, problems_of, refusal


def test_a_refusal_carries_its_problems_and_nothing_else_does() -> None:
    problems = ["storage: x is not set", "target registry 'a' at https://h does not answer"]
    assert problems_of(refusal(problems)) == problems
    assert problems_of("plan: import 1; results: imported 1") == []
    assert problems_of(None) == []


def test_entra_codes_become_what_to_fix() -> None:
    expired = ClientAuthenticationError(
        message="AADSTS7000222: The provided client secret keys for app 'x' are expired."
    )
    assert _aad_reason(expired) == "the client secret has expired: create a new one (AADSTS7000222)"
    other = ClientAuthenticationError(message="AADSTS50000: something else\nTrace ID: 1")
    assert _aad_reason(other) == "AADSTS50000: something else"
