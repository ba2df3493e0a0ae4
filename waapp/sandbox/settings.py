"""The Sandbox's accounts: the credentials each dialect accepts and where its webhooks go.

One simulated account per dialect. Requests with other credentials get the provider's own
auth error. The defaults below are public on purpose (docs/sandbox.md): the Sandbox holds
no secret and binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

DEFAULT_HOST = "127.0.0.1"
#: ``waapp sandbox`` and ``python -m waapp.sandbox`` listen here unless told otherwise.
DEFAULT_PORT = 8377

DEFAULT_TWILIO_ACCOUNT_SID = "AC" + "0" * 32
DEFAULT_TWILIO_AUTH_TOKEN = "sandbox-auth-token"
#: Twilio's own WhatsApp sandbox sender; the Sandbox accepts any ``whatsapp:`` sender.
DEFAULT_TWILIO_SENDER = "+14155238886"

DEFAULT_META_PHONE_NUMBER_ID = "100000000000001"
DEFAULT_META_WABA_ID = "200000000000002"
DEFAULT_META_ACCESS_TOKEN = "sandbox-access-token"
DEFAULT_META_APP_SECRET = "sandbox-app-secret"
DEFAULT_META_DISPLAY_PHONE_NUMBER = "15550001234"
DEFAULT_META_VERIFY_TOKEN = "sandbox-verify-token"
#: Kapso's project key, sent as ``X-API-Key`` in front of Meta's contract (providers.md §4).
DEFAULT_KAPSO_API_KEY = "sandbox-kapso-key"

DEFAULT_WASENDER_API_KEY = "sandbox-api-key"
DEFAULT_WASENDER_WEBHOOK_SECRET = "sandbox-webhook-secret"
DEFAULT_WASENDER_SESSION_ID = "sandbox-session"
DEFAULT_WASENDER_PHONE = "+15550005678"


class SettingsError(ValueError):
    """A ``/_sandbox/config`` part that cannot be applied; the message says which field."""


@dataclass(slots=True)
class TwilioSettings:
    account_sid: str = DEFAULT_TWILIO_ACCOUNT_SID
    auth_token: str = DEFAULT_TWILIO_AUTH_TOKEN
    #: Where status callbacks go when a message carries no ``StatusCallback`` of its own.
    status_callback: str | None = None
    #: Where inbound messages (replies, ``/_sandbox/inbound``) go; ``status_callback`` if unset.
    inbound_url: str | None = None
    #: The business number inbound messages are addressed to (E.164).
    sender: str = DEFAULT_TWILIO_SENDER

    @property
    def inbound_target(self) -> str | None:
        return self.inbound_url or self.status_callback


@dataclass(slots=True)
class MetaSettings:
    phone_number_id: str = DEFAULT_META_PHONE_NUMBER_ID
    waba_id: str = DEFAULT_META_WABA_ID
    access_token: str = DEFAULT_META_ACCESS_TOKEN
    #: Accepted as ``X-API-Key`` instead of the Bearer token, as Kapso does.
    api_key: str = DEFAULT_KAPSO_API_KEY
    app_secret: str = DEFAULT_META_APP_SECRET
    webhook_url: str | None = None
    #: What the GET verification handshake (``POST /_sandbox/verify``) sends as ``hub.verify_token``.
    verify_token: str = DEFAULT_META_VERIFY_TOKEN
    display_phone_number: str = DEFAULT_META_DISPLAY_PHONE_NUMBER
    verified_name: str = "waapp Sandbox"


@dataclass(slots=True)
class WaSenderSettings:
    api_key: str = DEFAULT_WASENDER_API_KEY
    webhook_secret: str = DEFAULT_WASENDER_WEBHOOK_SECRET
    webhook_url: str | None = None
    session_id: str = DEFAULT_WASENDER_SESSION_ID
    phone_number: str = DEFAULT_WASENDER_PHONE


@dataclass(slots=True)
class Settings:
    twilio: TwilioSettings = field(default_factory=TwilioSettings)
    meta: MetaSettings = field(default_factory=MetaSettings)
    wasender: WaSenderSettings = field(default_factory=WaSenderSettings)

    def update(self, data: Mapping[str, Any]) -> None:
        """Apply the ``twilio`` / ``meta`` / ``wasender`` parts of a config body, field by
        field; fields left out keep their value. Raises :class:`SettingsError` on an unknown
        field or a wrong type, before changing anything."""
        staged: list[tuple[object, str, object]] = []
        for part in ("twilio", "meta", "wasender"):
            if part not in data or data[part] is None:
                continue
            values = data[part]
            if not isinstance(values, Mapping):
                raise SettingsError(f"{part}: expected an object")
            target = getattr(self, part)
            known = {f.name: f for f in fields(target)}
            for name, value in values.items():
                if name not in known:
                    raise SettingsError(f"{part}.{name}: unknown field (known: {', '.join(known)})")
                optional = known[name].default is None
                if value is None and not optional:
                    raise SettingsError(f"{part}.{name}: may not be null")
                if value is not None and not isinstance(value, str):
                    raise SettingsError(f"{part}.{name}: expected a string")
                staged.append((target, name, value))
        for target, name, value in staged:
            setattr(target, name, value)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {
            part: {
                f.name: getattr(getattr(self, part), f.name) for f in fields(getattr(self, part))
            }
            for part in ("twilio", "meta", "wasender")
        }
