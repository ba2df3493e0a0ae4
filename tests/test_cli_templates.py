"""``waapp templates sync`` / ``list``, run as a user runs them (``python -m waapp``).

The subprocess has no keyring: it uses the announced plain-file fallback in the data folder.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from waapp.app import open_services
from waapp.core.entities import AccountKind
from waapp.paths import DataPaths


def waapp(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "waapp", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )


def test_sync_the_sandbox_then_list_as_json(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = waapp(data, "templates", "sync", "--account", "Sandbox")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "Sandbox: 4 added, 0 updated, 0 removed (0 unchanged)"
    again = waapp(data, "templates", "sync", "--account", "sandbox")  # any case
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("Sandbox: 0 added, 0 updated, 0 removed")

    listed = waapp(data, "templates", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [row["name"] for row in rows] == [
        "hello_world",
        "order_update",
        "spring_sale",
        "welcome_named",
    ]
    assert set(rows[0]) == {
        "id",
        "account",
        "kind",
        "name",
        "language",
        "category",
        "status",
        "quality",
        "placeholders",
        "body",
    }
    by_name = {row["name"]: row for row in rows}
    assert by_name["order_update"]["placeholders"] == ["1", "2"]
    assert by_name["welcome_named"]["placeholders"] == ["first_name", "code"]
    assert (by_name["spring_sale"]["status"], by_name["spring_sale"]["quality"]) == (
        "PENDING",
        "UNKNOWN",
    )
    assert {row["account"] for row in rows} == {"Sandbox"}
    assert {row["kind"] for row in rows} == {"approved"}

    text = waapp(data, "templates", "list", "--account", "Sandbox")
    assert text.returncode == 0
    assert "spring_sale  [approved, Sandbox, en_US]  PENDING" in text.stdout


def test_unknown_account_and_a_provider_failure_exit_1_with_a_plain_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def add_account() -> None:
        services = await open_services(DataPaths(data))
        try:
            await services.accounts.add(
                kind=AccountKind.META,
                name="Shop",
                settings={
                    "phone_number_id": "1",
                    "waba_id": "2",
                    "base_url": f"http://127.0.0.1:{port}",
                },
                secrets={"access_token": "t", "app_secret": "s", "verify_token": "v"},
            )
        finally:
            await services.close()

    # As the subprocess will: no system keyring, so the data folder's fallback file.
    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())
    # A thread of its own: after the UI tests, this thread's qasync loop counts as running.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, add_account()).result()

    unknown = waapp(data, "templates", "sync", "--account", "Nobody")
    assert unknown.returncode == 1
    assert "there is no account called “Nobody”" in unknown.stderr
    assert "“Shop”" in unknown.stderr

    failed = waapp(data, "templates", "sync", "--account", "Shop")
    assert failed.returncode == 1
    assert failed.stdout == ""
    message = failed.stderr.strip().splitlines()[-2:]
    assert message[0].startswith("waapp: ")
    assert "Traceback" not in failed.stderr
    assert len(message) == 2 and message[1]  # the message, then what to do

    empty = waapp(data, "templates", "list", "--json")
    assert json.loads(empty.stdout) == []
