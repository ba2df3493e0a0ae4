"""``python -m waapp.sandbox`` and ``waapp sandbox`` as separate processes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from waapp.cli import build_parser


def start(*args: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    process = subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    lines = []
    while True:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(
                f"the Sandbox ended early: {process.stderr.read() if process.stderr else ''}"
            )
        lines.append(line)
        if line.startswith("Press Ctrl+C"):
            break
    url = re.search(r"listening on (http://\S+)", lines[0])
    assert url is not None, lines
    return process, url.group(1), lines


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
def test_module_runs_answers_health_and_stops_on_signals(stop_with: signal.Signals) -> None:
    process, url, lines = start("-m", "waapp.sandbox", "--port", "0")
    try:
        banner = "".join(lines)
        assert "AC00000000000000000000000000000000" in banner and "sandbox-auth-token" in banner
        assert (
            "100000000000001" in banner
            and "sandbox-access-token" in banner
            and "sandbox-api-key" in banner
        )
        assert get_json(url + "/_sandbox/health")["status"] == "ok"
        process.send_signal(stop_with)
        out, _ = process.communicate(timeout=10)
        assert process.returncode == 0
        assert "stopped" in out
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_cli_subcommand_applies_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "sandbox.json"
    config.write_text(json.dumps({"meta": {"access_token": "from-file"}, "scenario": {"seed": 5}}))
    process, url, lines = start("-m", "waapp", "sandbox", "--port", "0", "--config", str(config))
    try:
        assert "from-file" in "".join(lines)
        assert get_json(url + "/_sandbox/config")["scenario"]["seed"] == 5
        process.terminate()
        process.communicate(timeout=10)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_cli_defaults() -> None:
    args = build_parser().parse_args(["sandbox"])
    assert (args.host, args.port, args.config) == ("127.0.0.1", 8377, None)


def test_a_port_in_use_is_reported_plainly() -> None:
    process, url, _ = start("-m", "waapp.sandbox", "--port", "0")
    try:
        port = url.rsplit(":", 1)[1]
        second = subprocess.run(
            [sys.executable, "-m", "waapp.sandbox", "--port", port],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 2 and "waapp sandbox:" in second.stderr
    finally:
        process.terminate()
        process.communicate(timeout=10)
