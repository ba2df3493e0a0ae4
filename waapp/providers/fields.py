"""What the Accounts screen asks for, per account kind: settings and secrets.

Settings are plain values stored with the account (``Account.settings``); secrets go to
the OS keyring only. Each field says its name (the key in ``settings`` / ``secrets``), a
label and help text in the user's words, whether it is required and its default.
:func:`missing_fields` applies the same rules :func:`waapp.providers.make_provider` does,
including the "one of" rules (a Twilio sender *or* a Messaging Service; a Kapso API key
*or* an access token) that a per-field ``required`` flag cannot express.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from waapp.core.entities import AccountKind

__all__ = [
    "DEFAULT_GRAPH_VERSION",
    "SANDBOX_DIALECTS",
    "SECRET_FIELDS",
    "SETTINGS_FIELDS",
    "FieldSpec",
    "missing_fields",
    "setting",
]

DEFAULT_GRAPH_VERSION = "v23.0"
TWILIO_BASE_URL = "https://api.twilio.com"
TWILIO_CONTENT_BASE_URL = "https://content.twilio.com/v1"
META_BASE_URL = "https://graph.facebook.com"
KAPSO_BASE_URL = "https://api.kapso.ai/meta/whatsapp"
WASENDER_BASE_URL = "https://www.wasenderapi.com"

#: The dialects a Sandbox account can imitate (``settings["dialect"]``).
SANDBOX_DIALECTS: tuple[str, ...] = ("meta", "twilio", "wasender")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    label: str
    help: str
    required: bool = False
    default: str = ""
    #: When not empty, the only values accepted (shown as a drop-down).
    choices: tuple[str, ...] = ()


# --- Twilio (providers.md §1) -------------------------------------------------------------

_TWILIO_SETTINGS = (
    FieldSpec(
        "account_sid",
        "Account SID",
        "Starts with AC; on the front page of your Twilio Console.",
        required=True,
    ),
    FieldSpec(
        "sender",
        "WhatsApp sender number",
        "Your WhatsApp-enabled Twilio number with its country code, such as +14155238886. "
        "Leave empty if you use a Messaging Service instead.",
    ),
    FieldSpec(
        "messaging_service_sid",
        "Messaging Service SID",
        "Starts with MG. Only needed if you send through a Messaging Service instead of a "
        "sender number.",
    ),
    FieldSpec(
        "status_callback",
        "Status callback URL",
        "Where Twilio reports delivery. Leave empty: waapp fills in its own public URL when "
        "the tunnel is running.",
    ),
    FieldSpec(
        "base_url",
        "API address",
        "Change only for testing.",
        default=TWILIO_BASE_URL,
    ),
    FieldSpec(
        "content_base_url",
        "Content API address",
        "Where the approved templates are listed. Change only for testing.",
        default=TWILIO_CONTENT_BASE_URL,
    ),
)
_TWILIO_SECRETS = (
    FieldSpec(
        "auth_token",
        "Auth Token",
        "Next to the Account SID in your Twilio Console (click to reveal it).",
        required=True,
    ),
)

# --- Meta Cloud API (providers.md §2) and Kapso (§4) -------------------------------------

_PHONE_NUMBER_ID = FieldSpec(
    "phone_number_id",
    "Phone number ID",
    "In Meta's WhatsApp Manager, API Setup: the ID of the number you send from (not the "
    "number itself).",
    required=True,
)
_WABA_ID = FieldSpec(
    "waba_id",
    "WhatsApp Business Account ID",
    "In the same place as the phone number ID; waapp reads your templates from it.",
    required=True,
)
_GRAPH_VERSION = FieldSpec(
    "graph_version",
    "Graph API version",
    "Change only if Meta retires this version.",
    default=DEFAULT_GRAPH_VERSION,
)

_META_SETTINGS = (
    _PHONE_NUMBER_ID,
    _WABA_ID,
    _GRAPH_VERSION,
    FieldSpec("base_url", "API address", "Change only for testing.", default=META_BASE_URL),
)
_META_SECRETS = (
    FieldSpec(
        "access_token",
        "Access token",
        "A permanent System User token with the whatsapp_business_messaging and "
        "whatsapp_business_management permissions.",
        required=True,
    ),
    FieldSpec(
        "app_secret",
        "App secret",
        "In your Meta app's Basic settings; waapp uses it to check that delivery reports "
        "really come from Meta.",
        required=True,
    ),
    FieldSpec(
        "verify_token",
        "Webhook verify token",
        "Any phrase you choose; type the same phrase in Meta's webhook settings.",
        required=True,
    ),
)

_KAPSO_SETTINGS = (
    _PHONE_NUMBER_ID,
    _WABA_ID,
    _GRAPH_VERSION,
    FieldSpec("base_url", "API address", "Change only for testing.", default=KAPSO_BASE_URL),
)
_KAPSO_SECRETS = (
    FieldSpec(
        "api_key",
        "Kapso API key",
        "From your Kapso project's API keys page. Needed unless you give an access token.",
    ),
    FieldSpec(
        "access_token",
        "WhatsApp access token",
        "Only if you do not use a Kapso API key.",
    ),
    FieldSpec(
        "webhook_secret",
        "Kapso webhook secret",
        "The secret key shown with your Kapso webhook; waapp uses it to check delivery reports.",
    ),
    FieldSpec(
        "app_secret",
        "Meta app secret",
        "Only if Kapso forwards Meta's own webhooks to waapp.",
    ),
    FieldSpec(
        "verify_token",
        "Webhook verify token",
        "Only for forwarded Meta webhooks: the phrase typed in the webhook settings.",
    ),
)

# --- WaSender (providers.md §3) ------------------------------------------------------------

_WASENDER_SETTINGS = (
    FieldSpec("base_url", "API address", "Change only for testing.", default=WASENDER_BASE_URL),
)
_WASENDER_SECRETS = (
    FieldSpec(
        "api_key",
        "Session API key",
        "The API key of your WhatsApp session in the WaSender dashboard (not your personal "
        "access token).",
        required=True,
    ),
    FieldSpec(
        "webhook_secret",
        "Webhook secret",
        "Shown in the session's webhook settings; waapp uses it to check delivery reports.",
    ),
)

# --- Sandbox: imitates one dialect; every id and secret optional, the address required ----

_SANDBOX_SETTINGS = (
    FieldSpec(
        "dialect",
        "Imitates",
        "Which provider the Sandbox pretends to be.",
        required=True,
        default="meta",
        choices=SANDBOX_DIALECTS,
    ),
    FieldSpec("base_url", "Sandbox address", "Where the Sandbox listens.", required=True),
    FieldSpec("account_sid", "Account SID", "Twilio dialect only."),
    FieldSpec("sender", "WhatsApp sender number", "Twilio dialect only."),
    FieldSpec("messaging_service_sid", "Messaging Service SID", "Twilio dialect only."),
    FieldSpec("status_callback", "Status callback URL", "Twilio dialect only."),
    FieldSpec(
        "content_base_url",
        "Content API address",
        "Twilio dialect only; default: the Sandbox address + /v1.",
    ),
    FieldSpec("phone_number_id", "Phone number ID", "Meta dialect only."),
    FieldSpec("waba_id", "WhatsApp Business Account ID", "Meta dialect only."),
    FieldSpec(
        "graph_version", "Graph API version", "Meta dialect only.", default=DEFAULT_GRAPH_VERSION
    ),
)
_SANDBOX_SECRETS = (
    FieldSpec("auth_token", "Auth Token", "Twilio dialect."),
    FieldSpec("access_token", "Access token", "Meta dialect."),
    FieldSpec("app_secret", "App secret", "Meta dialect."),
    FieldSpec("verify_token", "Webhook verify token", "Meta dialect."),
    FieldSpec("api_key", "API key", "WaSender dialect."),
    FieldSpec("webhook_secret", "Webhook secret", "WaSender dialect."),
)

SETTINGS_FIELDS: dict[AccountKind, tuple[FieldSpec, ...]] = {
    AccountKind.TWILIO: _TWILIO_SETTINGS,
    AccountKind.META: _META_SETTINGS,
    AccountKind.KAPSO: _KAPSO_SETTINGS,
    AccountKind.WASENDER: _WASENDER_SETTINGS,
    AccountKind.SANDBOX: _SANDBOX_SETTINGS,
}
SECRET_FIELDS: dict[AccountKind, tuple[FieldSpec, ...]] = {
    AccountKind.TWILIO: _TWILIO_SECRETS,
    AccountKind.META: _META_SECRETS,
    AccountKind.KAPSO: _KAPSO_SECRETS,
    AccountKind.WASENDER: _WASENDER_SECRETS,
    AccountKind.SANDBOX: _SANDBOX_SECRETS,
}

#: Fields of which at least one must be filled in: (kind, names, why).
_ONE_OF: tuple[tuple[AccountKind, tuple[str, ...], str], ...] = (
    (
        AccountKind.TWILIO,
        ("sender", "messaging_service_sid"),
        "a WhatsApp sender number or a Messaging Service SID",
    ),
    (AccountKind.KAPSO, ("api_key", "access_token"), "a Kapso API key or an access token"),
)


def setting(settings: Mapping[str, Any], spec_or_name: FieldSpec | str, default: str = "") -> str:
    """``settings[name]`` as stripped text, or the field's default when empty or absent."""
    if isinstance(spec_or_name, FieldSpec):
        name, default = spec_or_name.name, spec_or_name.default
    else:
        name = spec_or_name
    value = settings.get(name)
    text = "" if value is None else str(value).strip()
    return text or default


def missing_fields(
    kind: AccountKind, settings: Mapping[str, Any], secrets: Mapping[str, str]
) -> list[str]:
    """Plain-language descriptions of what is missing for ``kind``; [] when complete.

    For a Sandbox account only the address and a known dialect are checked here; the
    dialect's own ids are checked when the provider is built.
    """
    problems: list[str] = []
    for spec in SETTINGS_FIELDS[kind]:
        value = setting(settings, spec)
        if spec.required and not value:
            problems.append(f"the {spec.label}")
        elif spec.choices and value and value not in spec.choices:
            problems.append(f"the {spec.label} (one of {', '.join(spec.choices)})")
    for spec in SECRET_FIELDS[kind]:
        if spec.required and not setting(secrets, spec):
            problems.append(f"the {spec.label}")
    for one_of_kind, names, why in _ONE_OF:
        if kind is one_of_kind and not any(
            setting(settings, n) or setting(secrets, n) for n in names
        ):
            problems.append(why)
    return problems
