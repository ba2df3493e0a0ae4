"""The command line, run as a user runs it: ``python -m waapp …`` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def waapp(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "waapp", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
    )


def test_normalize_prints_one_json_object_per_number(tmp_path: Path) -> None:
    result = waapp(
        "--data-dir",
        str(tmp_path),
        "normalize",
        "--region",
        "IN",
        "7033009600",
        "whatsapp:+917033009600",
        "9.17033E+11",
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["input"] for r in rows] == ["7033009600", "whatsapp:+917033009600", "9.17033E+11"]
    assert rows[0] == {
        "input": "7033009600",
        "e164": "+917033009600",
        "valid": True,
        "reason": None,
    }
    assert rows[1]["e164"] == "+917033009600"
    assert rows[2]["e164"] is None and rows[2]["valid"] is False
    assert rows[2]["reason"].startswith("digits lost by the spreadsheet")
    assert result.returncode == 1  # one number was invalid
    assert not (tmp_path / "waapp.db").exists()  # normalising never creates a store


def test_normalize_exits_zero_when_all_valid_and_uses_the_env_data_dir(tmp_path: Path) -> None:
    result = waapp(
        "normalize", "--region", "gb", "07911 123456", env={"WAAPP_DATA_DIR": str(tmp_path)}
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["e164"] == "+447911123456"


def test_normalize_without_region_needs_a_country_code(tmp_path: Path) -> None:
    result = waapp("--data-dir", str(tmp_path), "normalize", "7033009600", "+91 70330 09600")
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["valid"] is False and "country" in first["reason"]
    assert second["e164"] == "+917033009600"


def test_self_test_passes_and_reports_every_check() -> None:
    result = waapp("--self-test")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert set(summary["checks"]) == {"window", "store", "phone", "keyring"}
    assert all(check["ok"] for check in summary["checks"].values())
    assert summary["checks"]["phone"]["normalised"] == "+917033009600"


def test_unknown_command_is_refused_with_usage() -> None:
    result = waapp("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_the_window_opens_on_the_sandbox_and_closes_cleanly(tmp_path: Path) -> None:
    """``waapp`` with no command: the window paints, the store, the Sandbox account and the
    services come up, and closing the window stops them before the process ends."""
    result = waapp(
        "--data-dir",
        str(tmp_path),
        env={"QT_QPA_PLATFORM": "offscreen", "WAAPP_STARTUP_PROBE": "1"},
    )
    events = [
        json.loads(line)["event"] for line in result.stderr.splitlines() if line.startswith("{")
    ]
    assert result.returncode == 0, result.stderr
    assert events == ["first_frame", "ready"]
    assert "Traceback" not in result.stderr
    assert (tmp_path / "waapp.db").exists()
