"""``waapp account add / list / test``, run as a user runs them (``python -m waapp``).

The subprocess has no system keyring (``PYTHON_KEYRING_BACKEND`` names keyring's ``fail``
backend, as on a headless machine): waapp must fall back to its plain file in the data
folder and say so on stderr — never crash, never drop a token.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from waapp.sandbox import settings as sb

TOKEN = "cli-Twilio-Tok-6d2f"
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def waapp(data: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "waapp", "--data-dir", str(data), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "utf-8", **NO_KEYRING},
    )


def add_twilio(data: Path, *extra: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return waapp(
        data,
        "account",
        "add",
        "--kind",
        "twilio",
        "--name",
        "Shop",
        "--setting",
        f"account_sid={sb.DEFAULT_TWILIO_ACCOUNT_SID}",
        *extra,
        "--secrets-stdin",
        stdin=stdin,
    )


def test_add_list_and_test_without_a_keyring(tmp_path: Path) -> None:
    data = tmp_path / "data"
    added = add_twilio(
        data,
        "--setting",
        "sender=+14155238886",
        "--base-url",
        "http://127.0.0.1:9",  # nothing listens there
        stdin=f"# Twilio Console\n\nauth_token = {TOKEN}\n",
    )
    assert added.returncode == 0, added.stderr
    assert "Added the Twilio account “Shop” (id 1)" in added.stdout
    assert "no system keyring" in added.stderr and "plain file" in added.stderr
    fallback = data / "secrets-unencrypted.cfg"
    assert fallback.exists() and (fallback.stat().st_mode & 0o777) == 0o600
    assert TOKEN.encode() not in (data / "waapp.db").read_bytes()

    listed = waapp(data, "account", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [
        {
            "id": 1,
            "name": "Shop",
            "kind": "twilio",
            "settings": {
                "account_sid": sb.DEFAULT_TWILIO_ACCOUNT_SID,
                "sender": "+14155238886",
                "base_url": "http://127.0.0.1:9",
            },
            "secrets": {"auth_token": True},
        }
    ]
    assert TOKEN not in listed.stdout + listed.stderr

    tested = waapp(data, "account", "test", "shop")
    assert tested.returncode == 1
    assert "NOT OK: No connection to Twilio" in tested.stdout
    assert TOKEN not in tested.stdout + tested.stderr


def test_refusals_name_the_problem_and_save_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    unknown_setting = add_twilio(data, "--setting", "colour=blue", stdin="")
    assert unknown_setting.returncode == 1
    assert "Unknown settings for a Twilio account: colour" in unknown_setting.stderr
    assert "account_sid, sender" in unknown_setting.stderr  # the keys it does know

    unknown_secret = add_twilio(
        data, "--setting", "sender=+14155238886", stdin=f"auth_token={TOKEN}\napi_key=x\n"
    )
    assert unknown_secret.returncode == 1
    assert "Unknown secrets for a Twilio account: api_key" in unknown_secret.stderr

    missing = add_twilio(data, stdin="")
    assert missing.returncode == 1
    assert "missing the Auth Token and a WhatsApp sender number or a Messaging Service SID" in (
        missing.stderr
    )

    malformed = add_twilio(data, "--setting", "sender", stdin="")
    assert malformed.returncode == 1 and "KEY=VALUE" in malformed.stderr

    listed = waapp(data, "account", "list")
    assert listed.returncode == 0 and "No accounts yet" in listed.stdout
    fallback = data / "secrets-unencrypted.cfg"
    assert not fallback.exists() or "auth" not in fallback.read_text()


def test_the_in_process_sandbox_account_is_tested_against_a_started_sandbox(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    added = waapp(
        data,
        "account",
        "add",
        "--kind",
        "sandbox",
        "--name",
        "Practice",
        "--setting",
        "in_process=true",
        "--setting",
        f"phone_number_id={sb.DEFAULT_META_PHONE_NUMBER_ID}",
        "--setting",
        f"waba_id={sb.DEFAULT_META_WABA_ID}",
        "--secrets-stdin",
        stdin=f"access_token={sb.DEFAULT_META_ACCESS_TOKEN}\n",
    )
    assert added.returncode == 0, added.stderr
    tested = waapp(data, "account", "test", "Practice")
    assert tested.returncode == 0, tested.stderr
    assert "OK: " in tested.stdout and "ready to send" in tested.stdout
    assert "Quality rating: Green — high" in tested.stdout

    unknown = waapp(data, "account", "test", "Nobody")
    assert unknown.returncode == 1
    assert "there is no account called “Nobody”" in unknown.stderr


def test_account_commands_load_no_qt(tmp_path: Path) -> None:
    probe = (
        "import sys; from waapp.cli import main; "
        f"code = main(['--data-dir', {str(tmp_path)!r}, 'account', 'list']); "
        "assert 'PySide6' not in sys.modules, 'Qt was imported'; sys.exit(code)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **NO_KEYRING},
    )
    assert result.returncode == 0, result.stderr
