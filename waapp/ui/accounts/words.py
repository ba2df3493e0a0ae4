"""What the Accounts screen says about each kind of account and about a health check, in
the user's words. No Qt here: plain strings, so that they can be tested and reused."""

from __future__ import annotations

from waapp.core.entities import Account, AccountKind
from waapp.core.ports import HealthReport
from waapp.services.accounts import is_in_process

#: One line per kind for the "which provider?" chooser: who it is for.
CHOOSER: dict[AccountKind, str] = {
    AccountKind.TWILIO: "You have a Twilio account with a WhatsApp sender number.",
    AccountKind.META: "You use Meta's WhatsApp Cloud API directly, with a phone number ID and "
    "an access token from Meta.",
    AccountKind.KAPSO: "You reach Meta's Cloud API through Kapso, with your Kapso project's "
    "API key.",
    AccountKind.WASENDER: "You link a WhatsApp Web session to your phone by scanning a QR code "
    "(WaSender-style gateway).",
    AccountKind.SANDBOX: "Another Sandbox simulator, for example one started with "
    "“waapp sandbox”. No real messages are sent.",
}

#: Order of the chooser: real providers first, the simulator last.
CHOOSER_ORDER = (
    AccountKind.TWILIO,
    AccountKind.META,
    AccountKind.KAPSO,
    AccountKind.WASENDER,
    AccountKind.SANDBOX,
)

#: How a Sandbox's ``dialect`` setting is named.
DIALECT_NAMES = {"meta": "Meta Cloud API", "twilio": "Twilio", "wasender": "WaSender"}

IN_PROCESS_ABOUT = (
    "The built-in Sandbox: a simulator running on this computer. No message leaves it, so "
    "you can try every feature — contacts, templates, campaigns, delivery reports — safely."
)

_ABOUT: dict[AccountKind, str] = {
    AccountKind.TWILIO: "Sends through your Twilio account's WhatsApp sender.",
    AccountKind.META: "Sends through Meta's WhatsApp Cloud API with your own phone number.",
    AccountKind.KAPSO: "Sends through Meta's WhatsApp Cloud API by way of Kapso.",
    AccountKind.WASENDER: "Sends through a WhatsApp Web session linked to your phone. Keep the "
    "phone online; if the session drops it needs a new QR scan.",
    AccountKind.SANDBOX: "A Sandbox simulator at another address: no real messages are sent.",
}

#: Where the user gives the webhook address to the provider.
_WEBHOOK_HOW: dict[AccountKind, str] = {
    AccountKind.TWILIO: "Give this address to Twilio as the status callback URL of your "
    "WhatsApp sender (or Messaging Service).",
    AccountKind.META: "In your Meta app, under WhatsApp › Configuration, paste it as the "
    "callback URL with your webhook verify token, and subscribe to “messages”.",
    AccountKind.KAPSO: "In Kapso, add it as a webhook of your project, with its secret key.",
    AccountKind.WASENDER: "In the WaSender dashboard, paste it as the session's webhook URL "
    "and turn on the message events.",
    AccountKind.SANDBOX: "Give it to the Sandbox as its webhook target (POST /_sandbox/config).",
}

IN_PROCESS_WEBHOOK = "The built-in Sandbox sends its delivery reports here by itself."
LOCAL_ONLY = "Reachable from this computer only — set up a tunnel in Diagnostics."


def about(account: Account) -> str:
    return IN_PROCESS_ABOUT if is_in_process(account) else _ABOUT[account.kind]


def webhook_how(account: Account) -> str:
    return IN_PROCESS_WEBHOOK if is_in_process(account) else _WEBHOOK_HOW[account.kind]


# --- health reports ----------------------------------------------------------------------

#: HealthReport.details keys, as the providers fill them, in display order.
DETAIL_LABELS: dict[str, str] = {
    "display_phone_number": "Phone number",
    "verified_name": "Business name",
    "friendly_name": "Account name",
    "account_status": "Account status",
    "account_type": "Account type",
    "session_status": "WhatsApp session",
    "status": "Number status",
    "quality_rating": "Quality rating",
    "messaging_limit": "Messaging limit",
    "throughput": "Sending speed",
    "name_status": "Display name",
    "code_verification_status": "Number verified",
    "account_mode": "Mode",
    "platform_type": "Platform",
    "error_code": "Error code",
    "error_detail": "The provider said",
    "what_to_do": "What to do",
}

_QUALITY = {
    "GREEN": "Green — high",
    "YELLOW": "Yellow — medium: send fewer marketing messages for a while",
    "RED": "Red — low: WhatsApp may limit this number",
    "UNKNOWN": "Not rated yet",
    "NA": "Not rated yet",
}
_LIMITS = {
    "TIER_50": "50 people a day",
    "TIER_250": "250 people a day",
    "TIER_1K": "1,000 people a day",
    "TIER_2K": "2,000 people a day",
    "TIER_10K": "10,000 people a day",
    "TIER_100K": "100,000 people a day",
    "TIER_UNLIMITED": "No daily limit",
}
_SESSION = {
    "connected": "Connected",
    "connecting": "Connecting…",
    "disconnected": "Disconnected",
    "need_scan": "Needs a QR scan with your phone",
    "logged_out": "Logged out",
    "expired": "Expired",
}


def detail_value(key: str, value: str) -> str:
    if key == "quality_rating":
        return _QUALITY.get(value.upper(), value)
    if key == "messaging_limit":
        return _LIMITS.get(value.upper(), value)
    if key == "session_status":
        return _SESSION.get(value.lower(), value)
    if key == "error_code":
        if value.lower().startswith("http_"):
            return "HTTP " + value[5:]
        return value.replace("_", " ").capitalize() if "_" in value else value
    if key in ("error_detail", "what_to_do", "display_phone_number"):
        return value
    if key in ("verified_name", "friendly_name"):
        return value
    if key == "platform_type" and value.upper() == "CLOUD_API":
        return "Cloud API"
    if value.isupper() or value.islower() or "_" in value:
        return value.replace("_", " ").capitalize()
    return value


def detail_rows(report: HealthReport) -> list[tuple[str, str]]:
    """(label, value) pairs in a stable order; unknown keys last, as they come."""
    known = [(k, report.details[k]) for k in DETAIL_LABELS if k in report.details]
    unknown = [(k, v) for k, v in report.details.items() if k not in DETAIL_LABELS]
    rows = [(DETAIL_LABELS[k], detail_value(k, v)) for k, v in known]
    rows += [(k.replace("_", " ").capitalize(), v) for k, v in unknown]
    return rows


def health_level(report: HealthReport) -> str:
    """ "ok", "warn" (works, with a warning such as a low quality rating) or "bad"."""
    if not report.ok:
        return "bad"
    quality = report.details.get("quality_rating", "").upper()
    status = report.details.get("status", "").upper()
    if quality in ("YELLOW", "RED") or status == "FLAGGED":
        return "warn"
    return "ok"
