"""The simulated world: accepted messages, 24 h windows, templates, rate limits, sessions.

The dialect modules ask the world what would happen to a request and tell it what they
accepted; the world plans each accepted message's future (status steps, a reply) as timed
events for :mod:`waapp.sandbox.webhooks`. Everything random comes from streams seeded by the
scenario, so a run is the same for the same seed and the same order of requests.

Rules, each documented in docs/sandbox.md:

* **Not on WhatsApp**: the numbers listed in the scenario's ``not_on_whatsapp``, and every
  number whose digits end in ``not_on_whatsapp_suffix`` (``404`` by default, e.g.
  ``+15550100404``). Sends to them are accepted and then fail (Twilio 63024, Meta 131026,
  WaSender status 0).
* **The 24 h window** is per customer number, shared by the dialects: it opens when the
  customer writes (``/_sandbox/inbound``, or a simulated reply). A free-form message to a
  number outside it is accepted and then fails (Twilio 63016, Meta 131047); templates are
  not subject to it; WaSender has no window.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import phonenumbers

from waapp.core.phones import is_e164, normalize_phone
from waapp.sandbox.scenario import AccountError, Scenario
from waapp.sandbox.settings import Settings
from waapp.sandbox.templates import TEMPLATES, Template

WINDOW_SECONDS = 24 * 3600

#: Forward-only order of a message's state; ``failed`` is final whatever came before.
STATUS_RANK = {"accepted": 0, "queued": 0, "sent": 1, "delivered": 2, "read": 3}

REPLIES = ("Thanks!", "Ok 👍", "Who is this?", "Got it, thank you", "Can you call me?", "Great")
STOP_REPLY = "STOP"


@dataclass(frozen=True, slots=True)
class Failure:
    """An asynchronous failure, in the dialect's own terms."""

    code: int
    title: str
    details: str


#: (dialect, reason) → the failure the provider reports later, in a status webhook.
FAILURES: dict[tuple[str, str], Failure] = {
    ("twilio", "not_on_whatsapp"): Failure(
        63024,
        "Invalid message recipient",
        "The recipient is not a valid WhatsApp user (not on WhatsApp or has not accepted the terms).",
    ),
    ("twilio", "window"): Failure(
        63016,
        "Failed to send freeform message because you are outside the allowed window.",
        "If you are using WhatsApp, please use a Message Template.",
    ),
    ("twilio", "template_not_approved"): Failure(
        63027,
        "Template does not exist for a language and locale",
        "The content template is not approved for WhatsApp.",
    ),
    ("twilio", "template_paused"): Failure(
        63027,
        "Template does not exist for a language and locale",
        "The content template is paused for WhatsApp (Meta 132015).",
    ),
    ("meta", "not_on_whatsapp"): Failure(
        131026,
        "Message undeliverable",
        "Message Undeliverable.",
    ),
    ("meta", "window"): Failure(
        131047,
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number.",
    ),
    ("wasender", "not_on_whatsapp"): Failure(0, "Message failed", "The number is not on WhatsApp."),
}


@dataclass(slots=True)
class Message:
    """One accepted message. ``id`` is the provider's id (``SM…``, ``wamid.…``, the WaSender
    ``msgId`` as text); ``status`` is dialect-neutral (accepted/sent/delivered/read/failed)."""

    id: str
    dialect: str
    to: str
    type: str
    text: str | None
    template: str | None
    language: str | None
    variables: Any
    time: float
    attempt: int
    sender: str
    status: str = "accepted"
    failure: Failure | None = None
    updated: float = 0.0
    sent_at: float | None = None
    callback_url: str | None = None
    opaque: str | None = None
    wa_id: str = ""
    key_id: str = ""
    number: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "dialect": self.dialect,
            "to": self.to,
            "type": self.type,
            "text": self.text,
            "template": self.template,
            "language": self.language,
            "variables": self.variables,
            "time": iso_time(self.time),
            "attempt": self.attempt,
            "status": self.status,
            "error_code": self.failure.code if self.failure else None,
        }


@dataclass(slots=True)
class Inbound:
    """A simulated customer message."""

    id: str
    dialect: str | None
    phone: str
    text: str
    at: float
    name: str = "Sandbox Customer"
    reply_to: Message | None = None


@dataclass(slots=True)
class StatusEvent:
    message: Message
    status: str
    duplicate: bool = False


@dataclass(slots=True)
class InboundEvent:
    inbound: Inbound


@dataclass(slots=True)
class SessionEvent:
    status: str


Event = StatusEvent | InboundEvent | SessionEvent


def parse_recipient(text: object) -> str | None:
    """A recipient as ``+E164``: the number as sent when it has the E.164 shape (``+`` or
    nothing, then 7-15 digits; ``whatsapp:`` and JID forms included), else whatever
    :func:`normalize_phone` makes of it, else None. The shape is enough, as for the
    providers: numbers such as +1 555 010 0404 are accepted although no one has them."""
    if not isinstance(text, str | int) or isinstance(text, bool):
        return None
    raw = str(text).strip()
    lowered = raw.lower()
    if lowered.startswith("whatsapp:"):
        raw = raw[len("whatsapp:") :].strip()
    elif lowered.endswith(("@s.whatsapp.net", "@c.us")):
        raw = raw.split("@", 1)[0].split(":", 1)[0]
    candidate = raw if raw.startswith("+") else "+" + raw
    if is_e164(candidate):
        return candidate
    return normalize_phone(raw).e164


def iso_time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _random_stream(seed: int, name: str) -> random.Random:
    return random.Random(f"{seed}:{name}")


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


@dataclass(slots=True)
class RateAnswer:
    """A WaSender rate-limit check: whether the send may go, and the X-RateLimit-* values."""

    allowed: bool
    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    retry_after: int = 0


class World:
    """The state every dialect shares. Not thread-safe: lives on the Sandbox's event loop."""

    def __init__(self, settings: Settings, scenario: Scenario) -> None:
        self.settings = settings
        self.templates: dict[tuple[str, str], Template] = {
            (t.name, t.language): t for t in TEMPLATES
        }
        self.templates_by_sid: dict[str, Template] = {t.content_sid: t for t in TEMPLATES}
        self.templates_by_id: dict[str, Template] = {t.template_id: t for t in TEMPLATES}
        #: Called with (delay in seconds, event) for every planned event.
        self.schedule: Callable[[float, Event], None] = lambda delay, event: None
        self.scenario = scenario
        # Ids are never repeated, not even by another Sandbox with the same seed, nor after a
        # reset: an app that outlives a Sandbox restart must not see an old id come back.
        self.id_rng = random.Random(os.urandom(16))
        self._next_number = int((time.time() - 1_700_000_000) * 1000)
        self._reset_state()

    # --- life cycle -----------------------------------------------------------------------

    def _reset_state(self) -> None:
        self.messages: list[Message] = []
        self.by_id: dict[str, Message] = {}
        self.by_number: dict[int, Message] = {}
        self.inbound: list[Inbound] = []
        self.last_inbound: dict[str, float] = {}
        self.attempts: dict[tuple[str, str], int] = {}
        self.accepted: dict[str, int] = {"twilio": 0, "meta": 0, "wasender": 0}
        self.template_sends: dict[str, int] = {}
        self._user_ids: dict[str, str] = {}
        self._pairs: dict[str, _Bucket] = {}
        self._mps_second = 0
        self._mps_count = 0
        self._wasender_minute = 0
        self._wasender_count = 0
        self._wasender_last = -1e18
        self.twilio_in_flight = 0
        self._restart_streams()

    def _restart_streams(self) -> None:
        seed = self.scenario.seed
        self.plan_rng = _random_stream(seed, "plan")
        self.fault_rng = _random_stream(seed, "fault")
        self.session = self.scenario.session

    def set_scenario(self, scenario: Scenario) -> None:
        previous = self.session
        self.scenario = scenario
        self._restart_streams()
        if self.session != previous:
            self.schedule(0.0, SessionEvent(self.session))

    def reset(self, scenario: Scenario) -> None:
        """Forget every message, window, counter and rate-limit state; apply ``scenario``."""
        self.scenario = scenario
        self._reset_state()

    # --- ids ------------------------------------------------------------------------------

    def twilio_sid(self, prefix: str = "SM") -> str:
        return f"{prefix}{self.id_rng.getrandbits(128):032x}"

    def wamid(self, wa_id: str) -> str:
        raw = f"{wa_id}:{self.id_rng.getrandbits(96):024X}".encode()
        return "wamid." + base64.b64encode(b"\x15\x02\x00\x11\x18\x12" + raw).decode("ascii")

    def wasender_key_id(self) -> str:
        return f"3EB0{self.id_rng.getrandbits(72):018X}"

    def next_wasender_number(self) -> int:
        number = self._next_number
        self._next_number += 1
        return number

    def wa_id(self, e164: str) -> str:
        """What WhatsApp calls this number (digits, no ``+``). With ``wa_id_quirks`` Mexican
        and Argentinian mobiles get the extra 1 / 9 WhatsApp keys them by (providers.md §5)."""
        digits = e164[1:]
        if self.scenario.wa_id_quirks:
            if digits.startswith("52") and len(digits) == 12:
                return "521" + digits[2:]
            if digits.startswith("54") and len(digits) == 12 and not digits.startswith("549"):
                return "549" + digits[2:]
        return digits

    def user_id(self, e164: str) -> str:
        """The business-scoped user id (BSUID) Meta's newer webhooks carry next to the wa_id:
        the ISO country, a dot, and a number fixed per phone number."""
        cached = self._user_ids.get(e164)
        if cached is None:
            try:
                region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
            except phonenumbers.NumberParseException:
                region = None
            digest = int.from_bytes(hashlib.sha256(e164.encode()).digest()[:8], "big")
            cached = self._user_ids[e164] = (
                f"{region if region and region != 'ZZ' else 'US'}.{digest}"
            )
        return cached

    # --- the rules ------------------------------------------------------------------------

    def on_whatsapp(self, e164: str) -> bool:
        scenario = self.scenario
        if e164 in scenario.not_on_whatsapp:
            return False
        suffix = scenario.not_on_whatsapp_suffix
        return not (suffix and e164.endswith(suffix))

    def in_window(self, e164: str, now: float) -> bool:
        if self.scenario.window_open:
            return True
        last = self.last_inbound.get(e164)
        return last is not None and now - last < WINDOW_SECONDS

    def open_window(self, e164: str, at: float) -> None:
        if at > self.last_inbound.get(e164, -1e18):
            self.last_inbound[e164] = at

    def template(self, name: str, language: str) -> Template | None:
        return self.templates.get((name, language))

    def template_status(self, template: Template) -> str:
        for pause in self.scenario.template_pauses:
            if (
                pause.name == template.name
                and self.template_sends.get(template.name, 0) >= pause.after
            ):
                return "PAUSED"
        return template.status

    def async_failure(
        self, dialect: str, to: str, kind: str, template: Template | None, now: float
    ) -> Failure | None:
        """What goes wrong later with a message the provider accepts now, if anything."""
        if not self.on_whatsapp(to):
            return FAILURES[(dialect, "not_on_whatsapp")]
        if dialect == "wasender":
            return None
        if kind != "template" and not self.in_window(to, now):
            return FAILURES[(dialect, "window")]
        if dialect == "twilio" and template is not None:
            status = self.template_status(template)
            if status == "PAUSED":
                return FAILURES[("twilio", "template_paused")]
            if status != "APPROVED":
                return FAILURES[("twilio", "template_not_approved")]
        return None

    def account_error(self, dialect: str) -> AccountError | None:
        error = self.scenario.account_errors.get(dialect)
        if error is None or self.accepted[dialect] < error.after:
            return None
        return error

    # --- rate limits ----------------------------------------------------------------------

    def meta_throughput_exceeded(self, now: float) -> bool:
        limit = self.scenario.meta_mps
        if limit is None:
            return False
        second = int(now)
        if second != self._mps_second:
            self._mps_second, self._mps_count = second, 0
        if self._mps_count >= limit:
            return True
        self._mps_count += 1
        return False

    def meta_pair_exceeded(self, to: str, now: float) -> bool:
        """A token bucket per recipient: ``meta_pair_burst`` at once, then one message per
        ``meta_pair_period_s`` (Meta's exact allowance is unverified, providers.md §8.7)."""
        burst = self.scenario.meta_pair_burst
        if burst is None:
            return False
        period = self.scenario.meta_pair_period_s
        bucket = self._pairs.get(to)
        if bucket is None:
            bucket = self._pairs[to] = _Bucket(float(burst), now)
        else:
            bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.at) / period)
            bucket.at = now
        if bucket.tokens < 1.0:
            return True
        bucket.tokens -= 1.0
        return False

    def wasender_rate(self, now: float) -> RateAnswer:
        scenario = self.scenario
        if scenario.wasender_account_protection:
            wait = 5.0 - (now - self._wasender_last)
            if wait > 0:
                return RateAnswer(False, 1, 0, now + wait, max(1, int(wait + 0.999)))
        limit = scenario.wasender_per_minute
        if limit is None:
            if scenario.wasender_account_protection:
                self._wasender_last = now
            return RateAnswer(True)
        minute = int(now // 60)
        if minute != self._wasender_minute:
            self._wasender_minute, self._wasender_count = minute, 0
        reset_at = (minute + 1) * 60.0
        if self._wasender_count >= limit:
            return RateAnswer(False, limit, 0, reset_at, max(1, int(reset_at - now + 0.999)))
        self._wasender_count += 1
        self._wasender_last = now
        return RateAnswer(True, limit, limit - self._wasender_count, reset_at)

    # --- acceptance -------------------------------------------------------------------------

    def accept(self, message: Message, failure: Failure | None, template: Template | None) -> None:
        """Record ``message`` and plan its future. ``failure`` is what
        :meth:`async_failure` said before the answer was decided."""
        key = (message.dialect, message.to)
        attempt = self.attempts.get(key, 0) + 1
        self.attempts[key] = attempt
        message.attempt = attempt
        message.updated = message.time
        self.messages.append(message)
        self.by_id[message.id] = message
        if message.number:
            self.by_number[message.number] = message
        self.accepted[message.dialect] += 1
        if template is not None:
            self.template_sends[template.name] = self.template_sends.get(template.name, 0) + 1
        self._plan(message, failure)
        if message.dialect == "wasender":
            self._maybe_drop_session()

    def _maybe_drop_session(self) -> None:
        after = self.scenario.session_drop_after
        if after is not None and self.session == "connected" and self.accepted["wasender"] >= after:
            self.session = self.scenario.session_drop_status
            self.schedule(0.0, SessionEvent(self.session))

    def _plan(self, message: Message, failure: Failure | None) -> None:
        scenario, rng, schedule = self.scenario, self.plan_rng, self.schedule
        message.failure = None
        steps: list[tuple[float, StatusEvent | InboundEvent]] = []
        at = 0.0
        if message.dialect == "twilio":
            at += scenario.delay("queued", rng)
            steps.append((at, StatusEvent(message, "queued")))
        at += scenario.delay("sent", rng)
        if failure is not None:
            message.failure = failure
            steps.append((at, StatusEvent(message, "failed")))
        else:
            sent_at = at
            steps.append((at, StatusEvent(message, "sent")))
            at += scenario.delay("delivered", rng)
            delivered_at = at
            if rng.random() < scenario.read_rate:
                at += scenario.delay("read", rng)
                read_at = at
                if rng.random() < scenario.out_of_order_rate:
                    delivered_at, read_at = read_at, delivered_at
                steps.append((delivered_at, StatusEvent(message, "delivered")))
                steps.append((read_at, StatusEvent(message, "read")))
                if rng.random() < scenario.reply_rate:
                    text = STOP_REPLY if rng.random() < scenario.stop_rate else rng.choice(REPLIES)
                    at += scenario.delay("reply", rng)
                    inbound = Inbound(
                        id="",
                        dialect=message.dialect,
                        phone=message.to,
                        text=text,
                        at=0.0,
                        reply_to=message,
                    )
                    steps.append((at, InboundEvent(inbound)))
            else:
                if rng.random() < scenario.out_of_order_rate:
                    sent_at, delivered_at = delivered_at, sent_at
                    steps[-1] = (sent_at, steps[-1][1])
                steps.append((delivered_at, StatusEvent(message, "delivered")))
        duplicate_rate = scenario.duplicate_rate
        for delay, event in steps:
            schedule(delay, event)
            if duplicate_rate and isinstance(event, StatusEvent) and rng.random() < duplicate_rate:
                schedule(
                    delay + scenario.delay("duplicate", rng),
                    StatusEvent(event.message, event.status, True),
                )

    def advance(self, message: Message, status: str, now: float) -> None:
        """Move ``message`` forward to ``status`` (never backwards; ``failed`` is final)."""
        if message.status == "failed":
            return
        if status == "failed":
            message.status, message.updated = "failed", now
            return
        rank = STATUS_RANK.get(status, 0)
        if rank > STATUS_RANK.get(message.status, 0):
            message.status, message.updated = status, now
            if message.sent_at is None:
                message.sent_at = now

    def record_inbound(self, inbound: Inbound) -> None:
        if not inbound.id:
            inbound.id = self.twilio_sid()
        self.inbound.append(inbound)
        self.open_window(inbound.phone, inbound.at)

    # --- queries --------------------------------------------------------------------------

    def find(self, *, to: str | None = None, dialect: str | None = None) -> Iterator[Message]:
        for message in self.messages:
            if (to is None or message.to == to) and (dialect is None or message.dialect == dialect):
                yield message


def now() -> float:
    return time.time()
