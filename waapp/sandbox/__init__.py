"""The Sandbox: a simulated WhatsApp provider speaking the Twilio, Meta Cloud and WaSender
dialects on their real paths (architecture.md, "The Sandbox"; docs/sandbox.md).

    from waapp.sandbox import Sandbox

    async with Sandbox() as sandbox:
        print(sandbox.url)

Names are imported on first use, so that ``waapp.sandbox.settings`` (the defaults the CLI
shows) costs nothing of aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from waapp.sandbox.scenario import Scenario, ScenarioError, parse_scenario
    from waapp.sandbox.server import Sandbox
    from waapp.sandbox.settings import (
        DEFAULT_HOST,
        DEFAULT_META_ACCESS_TOKEN,
        DEFAULT_META_APP_SECRET,
        DEFAULT_META_PHONE_NUMBER_ID,
        DEFAULT_META_WABA_ID,
        DEFAULT_PORT,
        DEFAULT_TWILIO_ACCOUNT_SID,
        DEFAULT_TWILIO_AUTH_TOKEN,
        DEFAULT_WASENDER_API_KEY,
        DEFAULT_WASENDER_WEBHOOK_SECRET,
        SettingsError,
    )
    from waapp.sandbox.templates import TEMPLATES, Template

_WHERE = {
    "Sandbox": "server",
    "Scenario": "scenario",
    "ScenarioError": "scenario",
    "parse_scenario": "scenario",
    "SettingsError": "settings",
    "TEMPLATES": "templates",
    "Template": "templates",
    **{
        name: "settings"
        for name in (
            "DEFAULT_HOST",
            "DEFAULT_PORT",
            "DEFAULT_TWILIO_ACCOUNT_SID",
            "DEFAULT_TWILIO_AUTH_TOKEN",
            "DEFAULT_META_PHONE_NUMBER_ID",
            "DEFAULT_META_WABA_ID",
            "DEFAULT_META_ACCESS_TOKEN",
            "DEFAULT_META_APP_SECRET",
            "DEFAULT_WASENDER_API_KEY",
            "DEFAULT_WASENDER_WEBHOOK_SECRET",
        )
    },
}

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_META_ACCESS_TOKEN",
    "DEFAULT_META_APP_SECRET",
    "DEFAULT_META_PHONE_NUMBER_ID",
    "DEFAULT_META_WABA_ID",
    "DEFAULT_PORT",
    "DEFAULT_TWILIO_ACCOUNT_SID",
    "DEFAULT_TWILIO_AUTH_TOKEN",
    "DEFAULT_WASENDER_API_KEY",
    "DEFAULT_WASENDER_WEBHOOK_SECRET",
    "TEMPLATES",
    "Sandbox",
    "Scenario",
    "ScenarioError",
    "SettingsError",
    "Template",
    "parse_scenario",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'waapp.sandbox' has no attribute {name!r}")
    return getattr(importlib.import_module(f"waapp.sandbox.{module}"), name)
