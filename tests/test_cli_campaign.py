"""``waapp campaign …`` run as a user runs it (``python -m waapp``), against the in-process
Sandbox account. Assertions read ``campaign show/list --json`` only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PEOPLE = [("+14155550101", "Ann Lee"), ("+14155550102", "Bob Roy"), ("+14155550103", "Cy Dee")]


def waapp(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "waapp", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )


def ok(data: Path, *args: str) -> str:
    done = waapp(data, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def refused(data: Path, *args: str) -> str:
    """Exit 1 with a plain message (no traceback, nothing on stdout); returns stderr."""
    done = waapp(data, *args)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    return done.stderr


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synced Sandbox templates and a group G of three contacts (made once, copied)."""
    tmp_path = tmp_path_factory.mktemp("prepared")
    data = tmp_path / "data"
    ok(data, "templates", "sync", "--account", "Sandbox")
    sheet = tmp_path / "people.csv"
    sheet.write_text(
        "phone,name,order\n" + "".join(f"{p},{n},#{i}\n" for i, (p, n) in enumerate(PEOPLE)),
        encoding="utf-8",
    )
    ok(data, "contacts", "import", str(sheet), "--group", "G")
    return data


def setup_data(prepared: Path, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    return data


def show(data: Path, campaign_id: int) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(ok(data, "campaign", "show", str(campaign_id), "--json"))
    return report


def test_send_wait_completes_then_finished_campaign_refuses_pause_cancel_resume(
    prepared: Path, tmp_path: Path
) -> None:
    data = setup_data(prepared, tmp_path)
    sent = json.loads(
        ok(
            data,
            "campaign",
            "send",
            "--account",
            "Sandbox",
            "--group",
            "G",
            "--template",
            "hello_world",
            "--name",
            "Hello all",
            "--rate",
            "50",
            "--wait",
            "--json",
        )
    )
    assert sent["status"] == "completed"
    assert sent["name"] == "Hello all"
    report = show(data, sent["id"])
    assert report["status"] == "completed"
    assert report["counts"] == {"sent": 3}
    assert [(e["from"], e["to"]) for e in report["timeline"]] == [
        (None, "draft"),
        ("draft", "scheduled"),
        ("scheduled", "sending"),
        ("sending", "completed"),
    ]
    assert report["timeline"][2]["detail"] == "started: 3 recipient(s), 0 skipped"
    assert report["finished_at"] is not None

    listed = json.loads(ok(data, "campaign", "list", "--json"))
    assert [(c["id"], c["name"], c["status"], c["counts"]) for c in listed] == [
        (sent["id"], "Hello all", "completed", {"sent": 3})
    ]

    cid = str(sent["id"])
    message = refused(data, "campaign", "pause", cid)
    assert "A campaign that is completed cannot become paused" in message
    message = refused(data, "campaign", "cancel", cid)
    assert "A campaign that is completed cannot become cancelled" in message
    message = refused(data, "campaign", "resume", cid)
    assert "a campaign that is completed cannot be resumed" in message
    message = refused(data, "campaign", "retry-failed", cid)
    assert "has no failed recipients" in message
    assert show(data, sent["id"]) == report  # nothing changed


def test_send_without_wait_then_pause_resume_and_resume_wait_completes(
    prepared: Path, tmp_path: Path
) -> None:
    data = setup_data(prepared, tmp_path)
    out = ok(
        data,
        "campaign",
        "send",
        "--account",
        "sandbox",
        "--group",
        "g",
        "--template",
        "order_update",
        "--var",
        "1=first_name",
        "--var",
        "2=order",
        "--json",
    )
    cid = json.loads(out)["id"]
    left = show(data, cid)
    assert (left["status"], left["counts"]) == ("sending", {"pending": 3})  # nothing sent yet

    assert "is paused" in ok(data, "campaign", "pause", str(cid))
    assert show(data, cid)["status"] == "paused"
    assert "cannot become paused" in refused(data, "campaign", "pause", str(cid))
    assert "is sending again" in ok(data, "campaign", "resume", str(cid))
    ok(data, "campaign", "pause", str(cid))

    done = json.loads(ok(data, "campaign", "resume", str(cid), "--wait", "--json"))
    assert done["status"] == "completed"
    assert done["counts"] == {"sent": 3}
    steps = [(e["to"], e["cause"], e["detail"]) for e in done["timeline"]][3:]
    assert steps == [
        ("paused", "user", "paused"),
        ("sending", "user", "resumed"),
        ("paused", "user", "paused"),
        ("sending", "user", "resumed"),
        ("completed", "engine", "every recipient reached a final state"),
    ]


def test_cancel_a_paused_campaign_and_free_form_text_outside_the_window(
    prepared: Path, tmp_path: Path
) -> None:
    data = setup_data(prepared, tmp_path)
    args = ("campaign", "send", "--account", "Sandbox", "--group", "G")
    cid = json.loads(ok(data, *args, "--template", "hello_world", "--json"))["id"]
    ok(data, "campaign", "pause", str(cid))
    assert "is cancelled (3 not sent)" in ok(data, "campaign", "cancel", str(cid))
    report = show(data, cid)
    assert (report["status"], report["counts"]) == ("cancelled", {"cancelled": 3})
    assert "cannot be resumed" in refused(data, "campaign", "resume", str(cid))

    # Free-form only: nobody wrote, so everyone is skipped (with the reason), nothing sent.
    text = json.loads(
        ok(data, *args, "--text", "Hi {{1}}!", "--var", "1=first_name", "--wait", "--json")
    )
    assert (text["status"], text["counts"]) == ("completed", {"skipped": 3})
    templates = json.loads(ok(data, "templates", "list", "--json"))
    local = [t for t in templates if t["kind"] == "freeform"]
    assert [(t["body"], t["placeholders"]) for t in local] == [("Hi {{1}}!", ["1"])]


def test_refusals_exit_1_with_a_plain_message(prepared: Path, tmp_path: Path) -> None:
    data = setup_data(prepared, tmp_path)
    send = ("campaign", "send", "--group", "G")
    assert "there is no account called “Nobody”" in refused(
        data, *send, "--account", "Nobody", "--template", "hello_world"
    )
    assert "there is no group called “Nope” (groups: “G”)" in refused(
        data, "campaign", "send", "--account", "Sandbox", "--group", "Nope", "--template", "x"
    )
    message = refused(data, *send, "--account", "Sandbox", "--template", "nope")
    assert "has no template called “nope”" in message and "“hello_world”" in message
    message = refused(
        data, *send, "--account", "Sandbox", "--template", "order_update", "--var", "1=name"
    )
    assert "“order_update” uses {{2}}, which the variable mapping does not fill." in message
    assert "--var needs N=FIELD" in refused(
        data, *send, "--account", "Sandbox", "--template", "order_update", "--var", "1"
    )
    assert "Campaign 99 does not exist." in refused(data, "campaign", "show", "99")
