"""Secrets (provider tokens) live in the OS keyring, keyed by account id — never in the
database, a log or an export.

When the OS has no keyring (a headless Linux without a Secret Service, for example), waapp
falls back *explicitly* to keyrings.alt's plain-text file in the data folder and says so:
``SecretStore.encrypted`` is False and ``SecretStore.warning`` explains it for the UI.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import keyring
import keyring.backend
import keyring.errors

log = logging.getLogger(__name__)

SERVICE = "waapp"

NO_KEYRING_WARNING = (
    "This computer has no system keyring, so provider tokens are kept in a plain file in "
    "waapp's data folder ({path}), readable by anyone who can read your files. Install a "
    "keyring (GNOME Keyring or KWallet on Linux) and restart waapp to keep them encrypted."
)


def _is_usable(backend: keyring.backend.KeyringBackend) -> bool:
    """A real system keyring. keyrings.alt's backends are files (plain text, or encrypted
    with a password asked on the terminal): keyring picks its plain-text file by itself
    when nothing better exists, so they count as "no keyring", and the fallback below is
    used and announced instead."""
    from keyring.backends import chainer, fail

    if isinstance(backend, fail.Keyring):
        return False
    if type(backend).__module__.startswith(("keyrings.alt", "keyring.backends.null")):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return any(_is_usable(inner) for inner in backend.backends)
    return True


class SecretStore:
    def __init__(self, fallback_path: Path) -> None:
        self._fallback_path = fallback_path
        self._fallback: keyring.backend.KeyringBackend | None = None

    def _backend(self) -> keyring.backend.KeyringBackend:
        backend = keyring.get_keyring()
        if _is_usable(backend):
            return backend
        if self._fallback is None:
            # Imported explicitly: a frozen app does not discover keyrings.alt by itself.
            from keyrings.alt.file import PlaintextKeyring

            fallback = PlaintextKeyring()
            fallback.file_path = str(self._fallback_path)  # type: ignore[misc]
            log.warning("No system keyring; using the unencrypted file %s", self._fallback_path)
            self._fallback = fallback
        return self._fallback

    @property
    def backend_name(self) -> str:
        backend = self._backend()
        return f"{type(backend).__module__}.{type(backend).__name__}"

    @property
    def encrypted(self) -> bool:
        self._backend()
        return self._fallback is None

    @property
    def warning(self) -> str | None:
        return None if self.encrypted else NO_KEYRING_WARNING.format(path=self._fallback_path)

    @staticmethod
    def _username(account_id: int, key: str) -> str:
        return f"account-{account_id}:{key}"

    def set(self, account_id: int, key: str, value: str) -> None:
        self._backend().set_password(SERVICE, self._username(account_id, key), value)
        if self._fallback is not None and self._fallback_path.exists():
            os.chmod(self._fallback_path, 0o600)

    def get(self, account_id: int, key: str) -> str | None:
        return self._backend().get_password(SERVICE, self._username(account_id, key))

    def delete(self, account_id: int, key: str) -> None:
        with contextlib.suppress(keyring.errors.PasswordDeleteError):  # already gone: idempotent
            self._backend().delete_password(SERVICE, self._username(account_id, key))
