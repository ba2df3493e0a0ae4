"""Where waapp keeps its data: ``--data-dir``, else ``WAAPP_DATA_DIR``, else the platform's
user-data folder (``~/.local/share/waapp`` on Linux, ``%LOCALAPPDATA%\\waapp`` on Windows)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_DATA_DIR = "WAAPP_DATA_DIR"


@dataclass(frozen=True, slots=True)
class DataPaths:
    root: Path

    @property
    def database(self) -> Path:
        return self.root / "waapp.db"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def fallback_keyring(self) -> Path:
        """The unencrypted secrets file, used only when the OS has no keyring."""
        return self.root / "secrets-unencrypted.cfg"


def resolve_data_dir(cli_value: str | None = None) -> DataPaths:
    if cli_value:
        return DataPaths(Path(cli_value).expanduser().resolve())
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return DataPaths(Path(env).expanduser().resolve())
    from platformdirs import user_data_dir

    return DataPaths(Path(user_data_dir("waapp", appauthor=False)))
