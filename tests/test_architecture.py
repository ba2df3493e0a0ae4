"""The layering rule of architecture.md, checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import importlib, json, pkgutil, sys
import {package}
for module in pkgutil.walk_packages({package}.__path__, {package}.__name__ + "."):
    importlib.import_module(module.name)
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
"""


def loaded_top_level_modules(package: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(package=package)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(json.loads(result.stdout))


def test_core_imports_no_qt_sqlalchemy_httpx_or_aiohttp() -> None:
    loaded = loaded_top_level_modules("waapp.core")
    assert not loaded & {
        "PySide6",
        "shiboken6",
        "qasync",
        "sqlalchemy",
        "httpx",
        "aiohttp",
        "alembic",
    }


def test_services_import_no_qt() -> None:
    loaded = loaded_top_level_modules("waapp.services")
    assert "waapp" in loaded  # the probe really imported something
    assert not loaded & {"PySide6", "shiboken6", "qasync"}
