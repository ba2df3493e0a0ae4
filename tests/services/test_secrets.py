"""Secrets: the OS keyring when there is one; an explicit, announced fallback when not."""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from tests.conftest import MemoryKeyring
from waapp.services.secrets import SecretStore


def test_secrets_go_to_the_system_keyring(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    store = SecretStore(tmp_path / "fallback.cfg")
    store.set(7, "auth_token", "s3cr3t")
    assert memory_keyring.secrets == {("waapp", "account-7:auth_token"): "s3cr3t"}
    assert store.get(7, "auth_token") == "s3cr3t"
    assert store.encrypted and store.warning is None
    store.delete(7, "auth_token")
    store.delete(7, "auth_token")  # idempotent
    assert store.get(7, "auth_token") is None
    assert not (tmp_path / "fallback.cfg").exists()


def test_without_a_keyring_it_falls_back_to_a_private_file_and_says_so(tmp_path: Path) -> None:
    keyring.set_keyring(fail.Keyring())
    path = tmp_path / "fallback.cfg"
    store = SecretStore(path)
    store.set(3, "access_token", "EAAG-token")
    assert not store.encrypted
    assert (
        store.warning is not None
        and "no system keyring" in store.warning
        and str(path) in store.warning
    )
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    # A new store (a restart) reads the same secret back.
    assert SecretStore(path).get(3, "access_token") == "EAAG-token"


def test_failing_keyring_never_silently_drops_a_token(tmp_path: Path) -> None:
    class Broken(MemoryKeyring):
        def set_password(self, service: str, username: str, password: str) -> None:
            raise keyring.errors.PasswordSetError("locked")

    keyring.set_keyring(Broken())
    with pytest.raises(keyring.errors.PasswordSetError):
        SecretStore(tmp_path / "f.cfg").set(1, "token", "x")
