"""The sandbox's chosen secrets (``up --secrets-file``) and what its stand-in says it holds."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from sandbox import api
from sandbox._process import SandboxError
from sandbox.azure.store import secret_values


def test_a_secrets_file_chooses_known_names_with_usable_values(tmp_path: Path) -> None:
    key = base64.b64encode(b"a storage key of 32 bytes, known").decode()
    path = tmp_path / "known.env"
    path.write_text(
        f"{api.SOURCE_PASSWORD_ENV}='Canary-source+pw/1'\n{api.STORAGE_KEY_NAME}={key}\n"
    )
    assert api.read_secrets_file(path) == {
        api.SOURCE_PASSWORD_ENV: "Canary-source+pw/1",
        api.STORAGE_KEY_NAME: key,
    }
    for bad in (
        {"ACR_MIGRATE_SOMETHING_ELSE": "long enough value"},
        {api.SOURCE_PASSWORD_ENV: "short"},
        {api.SOURCE_PASSWORD_ENV: "has:a colon in it"},
        {api.STORAGE_KEY_NAME: "not base64 at all!"},
    ):
        with pytest.raises(SandboxError):
            api.check_secrets(bad)


def test_the_standin_names_every_secret_of_its_state() -> None:
    state = {
        "tenants": {
            "t1": {
                "apps": {"c1": {"name": "app", "secret": "client-secret"}},
                "managed_identities": {"m1": {"name": "mi", "identity_header": "header"}},
            }
        },
        "slots": {"target": {"admin_password": "planned"}},
        "registries": {
            "k": {
                "resource": {"name": "reg"},
                "passwords": ["pw1", "pw2"],
                "token_passwords": {"tok": {"password1": "tokpw"}},
                "webhook_callbacks": {
                    "hook": {
                        "serviceUri": "https://h.invalid/x?code=hookkey",
                        "customHeaders": {"Authorization": "Bearer hdr"},
                    }
                },
            }
        },
    }
    assert sorted(secret_values(state).values()) == sorted(
        ["client-secret", "header", "planned", "pw1", "pw2", "tokpw", "code=hookkey", "Bearer hdr"]
    )
