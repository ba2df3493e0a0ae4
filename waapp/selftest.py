"""``waapp --self-test``: proves that this build (source or bundle) works on this machine.

Opens the main window offscreen, opens and migrates a store in a temporary folder,
normalises a phone number, and round-trips a secret through the keyring path. Prints a JSON
summary; the exit status is 0 only if every check passed.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from waapp import __version__
from waapp.paths import DataPaths


def _check_window(paths: DataPaths) -> dict[str, Any]:
    from PySide6.QtWidgets import QApplication

    from waapp.ui.main_window import MainWindow
    from waapp.ui.theme import apply_theme

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    apply_theme(app)
    window = MainWindow(paths)
    window.attach({})
    window.show()
    app.processEvents()
    image = window.grab().toImage()
    window.close()
    assert not image.isNull() and image.width() > 0, "the window did not paint"
    return {"platform": app.platformName(), "size": [image.width(), image.height()]}


def _check_store(paths: DataPaths) -> dict[str, Any]:
    from waapp.core.entities import Contact
    from waapp.store.database import open_database

    db = open_database(paths.database)
    try:
        db.contacts.add(Contact(phone_e164="+917033009600", name="Self test"))
        found = db.contacts.find_by_phone("+917033009600")
        assert found is not None and found.name == "Self test", "the contact did not read back"
        revision = db.revision
    finally:
        db.close()
    reopened = open_database(paths.database)  # a second open must be a no-op migration
    reopened.close()
    return {"revision": revision}


def _check_phone(_paths: DataPaths) -> dict[str, Any]:
    from waapp.core.phones import normalize_phone

    good = normalize_phone("070330 09600", "IN")
    lossy = normalize_phone("9.17033E+11", "IN")
    assert good.e164 == "+917033009600", f"expected +917033009600, got {good}"
    assert lossy.e164 is None, "a lossy spreadsheet number was accepted"
    return {"normalised": good.e164, "refused": lossy.reason}


def _check_keyring(paths: DataPaths) -> dict[str, Any]:
    from waapp.services.secrets import SecretStore

    store = SecretStore(paths.fallback_keyring)
    token = f"self-test-{os.getpid()}-{time.time_ns()}"
    store.set(0, "self-test", token)
    try:
        assert store.get(0, "self-test") == token, "the secret did not read back"
    finally:
        store.delete(0, "self-test")
    assert store.get(0, "self-test") is None, "the secret was not deleted"
    return {"backend": store.backend_name, "encrypted": store.encrypted}


CHECKS: list[tuple[str, Callable[[DataPaths], dict[str, Any]]]] = [
    ("window", _check_window),
    ("store", _check_store),
    ("phone", _check_phone),
    ("keyring", _check_keyring),
]


def run_self_test() -> int:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="waapp-self-test-") as tmp:
        paths = DataPaths(Path(tmp))
        for name, check in CHECKS:
            started = time.perf_counter()
            try:
                detail = check(paths)
                results[name] = {"ok": True, **detail}
            except Exception as error:
                results[name] = {
                    "ok": False,
                    "error": f"{type(error).__name__}: {error}",
                    "trace": traceback.format_exc(limit=3),
                }
            results[name]["seconds"] = round(time.perf_counter() - started, 3)
    ok = all(r["ok"] for r in results.values())
    summary = {
        "ok": ok,
        "version": __version__,
        "python": platform.python_version(),
        "frozen": bool(getattr(sys, "frozen", False)),
        "checks": results,
    }
    print(json.dumps(summary, indent=2))
    return 0 if ok else 1
