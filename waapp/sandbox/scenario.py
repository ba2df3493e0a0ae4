"""The scenario: how the simulated world behaves, and which faults it injects.

A scenario is set with ``POST /_sandbox/config {"scenario": {…}}`` (or
``Sandbox.configure(scenario=…)``). Setting one **replaces** the previous scenario as a
whole (keys left out take their defaults) and restarts its random streams and fault
counters, so a test gets the same run for the same seed and the same order of requests.
Unknown keys are refused with the list of known ones. docs/sandbox.md lists every key.

Faults are rules. A rule is a number (the probability per request) or an object:
``{"rate": 0.1}``, ``{"count": 3}`` (the next 3 requests), ``{"every": 10}`` (every 10th
request), with ``"after": N`` (only once N requests have been seen) and
``"dialects": ["meta", …]`` as options. Rules count the requests they apply to: the send
endpoints by default, every dialect endpoint with ``"fault_scope": "all"``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

DIALECTS = ("twilio", "meta", "wasender")

#: Fault rules checked before a request is accepted, in this order; the first that fires
#: wins. ``slow`` only delays the answer, so it may combine with any other.
FAULTS_BEFORE = ("timeout_before", "reset", "error_5xx", "rate_limit")
#: Fault rules that fire after the message was recorded (the client cannot know it).
FAULTS_AFTER = ("timeout_after", "reset_after")
FAULT_NAMES = (*FAULTS_BEFORE, *FAULTS_AFTER, "slow")

WASENDER_SESSION_STATES = (
    "connecting",
    "connected",
    "disconnected",
    "need_scan",
    "logged_out",
    "expired",
)


class ScenarioError(ValueError):
    """A scenario that cannot be applied; the message names the key."""


@dataclass(slots=True)
class FaultRule:
    """When one fault fires. Counting is per rule, over the requests it applies to."""

    rate: float = 0.0
    count: int | None = None
    every: int | None = None
    after: int = 0
    dialects: frozenset[str] = frozenset(DIALECTS)
    #: ``error_5xx``: the HTTP status; ``slow``: ignored.
    status: int = 500
    #: ``slow``: how long to wait before answering.
    delay_ms: float = 1000.0
    #: ``rate_limit`` on Meta: which code (130429, 131056, 80007, 4).
    code: int | None = None
    #: ``rate_limit``: seconds to put in ``Retry-After`` (WaSender: also ``retry_after``,
    #: 1 when unset; Twilio: else the scenario's ``twilio_retry_after``; Meta: else none).
    retry_after: int | None = None
    seen: int = 0
    fired: int = 0

    def fires(self, dialect: str, rng: random.Random) -> bool:
        if dialect not in self.dialects:
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        if self.count is not None:
            hit = self.fired < self.count
        elif self.every is not None:
            hit = (self.seen - self.after) % self.every == 0
        else:
            hit = self.rate > 0 and rng.random() < self.rate
        if hit:
            self.fired += 1
        return hit


@dataclass(slots=True)
class AccountError:
    """An account-level failure: Meta 190 / 368 / 131031, Twilio 20003, WaSender 401."""

    code: int
    #: Accepted sends of that dialect before the error starts ("token expired mid-run").
    after: int = 0


@dataclass(slots=True)
class TemplatePause:
    name: str
    #: Accepted sends of this template before it is paused (132015 from then on).
    after: int = 0


def _default_delays() -> dict[str, tuple[float, float]]:
    return {
        "queued": (0.0, 5.0),
        "sent": (20.0, 60.0),
        "delivered": (40.0, 150.0),
        "read": (100.0, 400.0),
        "reply": (200.0, 800.0),
        "duplicate": (10.0, 200.0),
    }


def _default_retries() -> dict[str, tuple[float, ...]]:
    # Meta retries failed deliveries (providers.md §2.7, schedule unverified); Twilio's
    # policy for status callbacks is unknown (§8.2): no retry unless asked.
    return {
        "meta": (1000.0, 2000.0, 4000.0, 8000.0, 16000.0),
        "twilio": (),
        "wasender": (1000.0, 5000.0),
    }


def _default_http_status() -> dict[str, dict[str, int]]:
    # providers.md §2.3: most WhatsApp errors come back as HTTP 400, 190 as 401, the
    # service errors as 5xx (unverified; overridable per code with "http_status").
    return {
        "meta": {
            "190": 401,
            "104": 401,
            "1": 500,
            "2": 503,
            "131000": 500,
            "131016": 503,
        },
        "twilio": {"20003": 401, "20429": 429, "20404": 404, "20500": 500, "20503": 503},
        "wasender": {"session_not_connected": 401},
    }


@dataclass(slots=True)
class Scenario:
    seed: int = 0
    #: Divides every simulated delay: 2.0 runs the world twice as fast.
    speed: float = 1.0
    #: ``[min, max]`` ms per step, each after the previous one.
    delays_ms: dict[str, tuple[float, float]] = field(default_factory=_default_delays)
    read_rate: float = 0.8
    reply_rate: float = 0.05
    #: Of the replies, how many say "STOP".
    stop_rate: float = 0.2
    out_of_order_rate: float = 0.05
    duplicate_rate: float = 0.02
    #: Numbers (E.164) that are not on WhatsApp, besides the suffix rule.
    not_on_whatsapp: frozenset[str] = frozenset()
    #: Every number whose digits end with this is not on WhatsApp; null turns it off.
    not_on_whatsapp_suffix: str | None = "404"
    #: Treat every number as inside the 24 h window.
    window_open: bool = False
    #: Meta answers with the wa_id WhatsApp uses for Mexico (521…) and Argentina (549…).
    wa_id_quirks: bool = False

    # --- rate limits, answered each provider's way ---
    meta_mps: int | None = 1000
    meta_pair_burst: int | None = 10
    meta_pair_period_s: float = 6.0
    twilio_concurrency: int | None = 100
    twilio_retry_after: int | None = None
    wasender_per_minute: int | None = None
    wasender_account_protection: bool = False
    wasender_rate_reset: str = "timestamp"

    # --- faults ---
    faults: dict[str, FaultRule] = field(default_factory=dict)
    fault_scope: str = "send"
    #: How long a timeout fault hangs before it drops the connection.
    hang_ms: float = 30000.0
    account_errors: dict[str, AccountError] = field(default_factory=dict)
    session: str = "connected"
    session_drop_after: int | None = None
    session_drop_status: str = "need_scan"
    template_pauses: tuple[TemplatePause, ...] = ()

    # --- dialect details that providers.md §8 lists as unverified ---
    http_status: dict[str, dict[str, int]] = field(default_factory=_default_http_status)
    meta_sync_errors: frozenset[int] = frozenset()
    meta_batch_max: int = 10
    meta_batch_window_ms: float = 50.0
    meta_batch_style: str = "statuses"
    meta_ascii_json: bool = False
    messaging_limit: str = "TIER_10K"
    quality_rating: str = "GREEN"
    throughput_level: str = "STANDARD"
    twilio_pending_status: str = "received"
    wasender_status_type: str = "int"
    wasender_messages_shape: str = "object"
    webhook_retry_ms: dict[str, tuple[float, ...]] = field(default_factory=_default_retries)
    webhook_concurrency: int = 16
    webhook_timeout_ms: float = 10000.0

    def delay(self, step: str, rng: random.Random) -> float:
        """A delay for ``step`` in seconds, drawn from its range and scaled by ``speed``."""
        low, high = self.delays_ms[step]
        return (low if high <= low else rng.uniform(low, high)) / 1000.0 / self.speed

    def http_status_for(self, dialect: str, code: int | str, default: int) -> int:
        return self.http_status.get(dialect, {}).get(str(code), default)

    @property
    def has_faults(self) -> bool:
        return bool(self.faults)


# --- parsing -------------------------------------------------------------------------------


def _number(key: str, value: Any, *, low: float = 0.0, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{key}: expected a number")
    if value < low or (high is not None and value > high):
        raise ScenarioError(f"{key}: {value} is out of range")
    return float(value)


def _integer(key: str, value: Any, *, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ScenarioError(f"{key}: expected an integer >= {low}")
    return value


def _optional_int(key: str, value: Any, *, low: int = 0) -> int | None:
    return None if value is None else _integer(key, value, low=low)


def _boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ScenarioError(f"{key}: expected true or false")
    return value


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ScenarioError(f"{key}: expected one of {', '.join(choices)}")
    return str(value)


def _dialects(key: str, value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(v in DIALECTS for v in value):
        raise ScenarioError(f"{key}: expected a list of {', '.join(DIALECTS)}")
    return frozenset(value)


def _fault(name: str, value: Any) -> FaultRule:
    if not isinstance(value, Mapping):
        return FaultRule(rate=_number(name, value, high=1.0))
    rule = FaultRule()
    for key, item in value.items():
        where = f"{name}.{key}"
        if key == "rate":
            rule.rate = _number(where, item, high=1.0)
        elif key == "count":
            rule.count = _integer(where, item)
        elif key == "every":
            rule.every = _integer(where, item, low=1)
        elif key == "after":
            rule.after = _integer(where, item)
        elif key == "dialects":
            rule.dialects = _dialects(where, item)
        elif key in ("seen", "fired"):
            continue  # counters, as GET /_sandbox/config shows them
        elif key == "status":
            rule.status = _integer(where, item, low=500)
            if rule.status > 599:
                raise ScenarioError(f"{where}: expected a 5xx status")
        elif key == "delay_ms":
            rule.delay_ms = _number(where, item)
        elif key == "code":
            rule.code = None if item is None else _integer(where, item)
        elif key == "retry_after":
            rule.retry_after = None if item is None else _integer(where, item)
        else:
            raise ScenarioError(f"{where}: unknown key")
    if rule.count is None and rule.every is None and "rate" not in value:
        rule.rate = 1.0  # {"after": 5} alone: every request after the fifth
    return rule


def _account_errors(value: Any) -> dict[str, AccountError]:
    if not isinstance(value, Mapping):
        raise ScenarioError("account_error: expected an object keyed by dialect")
    allowed = {
        "meta": (190, 368, 131031, 131005, 131042, 131045),
        "twilio": (20003,),
        "wasender": (401, 403),
    }
    result: dict[str, AccountError] = {}
    for dialect, spec in value.items():
        if dialect not in allowed:
            raise ScenarioError(f"account_error.{dialect}: unknown dialect")
        if isinstance(spec, Mapping):
            unknown = set(spec) - {"code", "after"}
            if unknown:
                raise ScenarioError(f"account_error.{dialect}: unknown keys {sorted(unknown)}")
            code = _integer(f"account_error.{dialect}.code", spec.get("code"))
            after = _integer(f"account_error.{dialect}.after", spec.get("after", 0))
        else:
            code, after = _integer(f"account_error.{dialect}", spec), 0
        if code not in allowed[dialect]:
            raise ScenarioError(
                f"account_error.{dialect}: code {code} not simulated "
                f"(one of {', '.join(map(str, allowed[dialect]))})"
            )
        result[dialect] = AccountError(code=code, after=after)
    return result


def _template_pauses(value: Any) -> tuple[TemplatePause, ...]:
    if not isinstance(value, list):
        raise ScenarioError("template_paused: expected a list of names or {name, after}")
    pauses = []
    for item in value:
        if isinstance(item, str):
            pauses.append(TemplatePause(name=item))
        elif (
            isinstance(item, Mapping)
            and isinstance(item.get("name"), str)
            and set(item) <= {"name", "after"}
        ):
            pauses.append(
                TemplatePause(
                    name=item["name"], after=_integer("template_paused.after", item.get("after", 0))
                )
            )
        else:
            raise ScenarioError("template_paused: expected a list of names or {name, after}")
    return tuple(pauses)


def _ranges(value: Any) -> dict[str, tuple[float, float]]:
    delays = _default_delays()
    if not isinstance(value, Mapping):
        raise ScenarioError("delays_ms: expected an object")
    for step, span in value.items():
        if step not in delays:
            raise ScenarioError(f"delays_ms.{step}: unknown step (known: {', '.join(delays)})")
        if isinstance(span, int | float) and not isinstance(span, bool):
            low = high = _number(f"delays_ms.{step}", span)
        elif isinstance(span, list) and len(span) == 2:
            low = _number(f"delays_ms.{step}", span[0])
            high = _number(f"delays_ms.{step}", span[1])
        else:
            raise ScenarioError(f"delays_ms.{step}: expected a number or [min, max]")
        delays[step] = (min(low, high), max(low, high))
    return delays


def _retries(value: Any) -> dict[str, tuple[float, ...]]:
    retries = _default_retries()
    if not isinstance(value, Mapping):
        raise ScenarioError("webhook_retry_ms: expected an object keyed by dialect")
    for dialect, delays in value.items():
        if dialect not in DIALECTS or not isinstance(delays, list):
            raise ScenarioError(f"webhook_retry_ms.{dialect}: expected a list of delays in ms")
        retries[dialect] = tuple(_number(f"webhook_retry_ms.{dialect}", d) for d in delays)
    return retries


def _http_status(value: Any) -> dict[str, dict[str, int]]:
    table = _default_http_status()
    if not isinstance(value, Mapping):
        raise ScenarioError("http_status: expected an object keyed by dialect")
    for dialect, codes in value.items():
        if dialect not in DIALECTS or not isinstance(codes, Mapping):
            raise ScenarioError(f"http_status.{dialect}: expected an object of code → HTTP status")
        for code, status in codes.items():
            status = _integer(f"http_status.{dialect}.{code}", status, low=200)
            if status > 599:
                raise ScenarioError(f"http_status.{dialect}.{code}: not an HTTP status")
            table.setdefault(dialect, {})[str(code)] = status
    return table


_SIMPLE: dict[str, Any] = {
    "seed": lambda v: _integer("seed", v),
    "speed": lambda v: _number("speed", v, low=1e-6),
    "read_rate": lambda v: _number("read_rate", v, high=1.0),
    "reply_rate": lambda v: _number("reply_rate", v, high=1.0),
    "stop_rate": lambda v: _number("stop_rate", v, high=1.0),
    "out_of_order_rate": lambda v: _number("out_of_order_rate", v, high=1.0),
    "duplicate_rate": lambda v: _number("duplicate_rate", v, high=1.0),
    "window_open": lambda v: _boolean("window_open", v),
    "wa_id_quirks": lambda v: _boolean("wa_id_quirks", v),
    "meta_mps": lambda v: _optional_int("meta_mps", v, low=1),
    "meta_pair_burst": lambda v: _optional_int("meta_pair_burst", v, low=1),
    "meta_pair_period_s": lambda v: _number("meta_pair_period_s", v, low=1e-3),
    "twilio_concurrency": lambda v: _optional_int("twilio_concurrency", v, low=1),
    "twilio_retry_after": lambda v: _optional_int("twilio_retry_after", v),
    "wasender_per_minute": lambda v: _optional_int("wasender_per_minute", v, low=1),
    "wasender_account_protection": lambda v: _boolean("wasender_account_protection", v),
    "wasender_rate_reset": lambda v: _choice("wasender_rate_reset", v, ("timestamp", "seconds")),
    "fault_scope": lambda v: _choice("fault_scope", v, ("send", "all")),
    "hang_ms": lambda v: _number("hang_ms", v),
    "session": lambda v: _choice("session", v, WASENDER_SESSION_STATES),
    "session_drop_after": lambda v: _optional_int("session_drop_after", v),
    "session_drop_status": lambda v: _choice("session_drop_status", v, WASENDER_SESSION_STATES),
    "meta_batch_max": lambda v: _integer("meta_batch_max", v, low=1),
    "meta_batch_window_ms": lambda v: _number("meta_batch_window_ms", v),
    "meta_batch_style": lambda v: _choice("meta_batch_style", v, ("statuses", "entries")),
    "meta_ascii_json": lambda v: _boolean("meta_ascii_json", v),
    "messaging_limit": lambda v: str(v),
    "quality_rating": lambda v: _choice(
        "quality_rating", v, ("GREEN", "YELLOW", "RED", "NA", "UNKNOWN")
    ),
    "throughput_level": lambda v: _choice(
        "throughput_level", v, ("STANDARD", "HIGH", "NOT_APPLICABLE")
    ),
    "twilio_pending_status": lambda v: str(v),
    "wasender_status_type": lambda v: _choice("wasender_status_type", v, ("int", "string")),
    "wasender_messages_shape": lambda v: _choice("wasender_messages_shape", v, ("object", "array")),
    "webhook_concurrency": lambda v: _integer("webhook_concurrency", v, low=1),
    "webhook_timeout_ms": lambda v: _number("webhook_timeout_ms", v, low=1.0),
}


def _suffix(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.isdigit():
        raise ScenarioError("not_on_whatsapp_suffix: expected a string of digits or null")
    return value


def _numbers(value: Any) -> frozenset[str]:
    from waapp.core.phones import normalize_phone

    if not isinstance(value, list):
        raise ScenarioError("not_on_whatsapp: expected a list of E.164 numbers")
    result = set()
    for item in value:
        phone = normalize_phone(str(item))
        if phone.e164 is None:
            raise ScenarioError(f"not_on_whatsapp: {item!r} is not an international number")
        result.add(phone.e164)
    return frozenset(result)


_COMPOUND: dict[str, Any] = {
    "delays_ms": ("delays_ms", _ranges),
    "not_on_whatsapp": ("not_on_whatsapp", _numbers),
    "not_on_whatsapp_suffix": ("not_on_whatsapp_suffix", _suffix),
    "account_error": ("account_errors", _account_errors),
    "template_paused": ("template_pauses", _template_pauses),
    "http_status": ("http_status", _http_status),
    "webhook_retry_ms": ("webhook_retry_ms", _retries),
    "meta_sync_errors": (
        "meta_sync_errors",
        lambda v: (
            frozenset(_integer("meta_sync_errors", c) for c in (v if isinstance(v, list) else [v]))
            & {131047, 131026, 131049, 130472}
        ),
    ),
}


def known_keys() -> list[str]:
    return sorted({*_SIMPLE, *_COMPOUND, *FAULT_NAMES})


def parse_scenario(data: Mapping[str, Any] | None) -> Scenario:
    """A :class:`Scenario` from its JSON form; raises :class:`ScenarioError`."""
    scenario = Scenario()
    if data is None:
        return scenario
    if not isinstance(data, Mapping):
        raise ScenarioError("scenario: expected an object")
    for key, value in data.items():
        if key in _SIMPLE:
            setattr(scenario, key, _SIMPLE[key](value))
        elif key in _COMPOUND:
            attribute, parse = _COMPOUND[key]
            setattr(scenario, attribute, parse(value))
        elif key in FAULT_NAMES:
            if value is not None:
                scenario.faults[key] = _fault(key, value)
        else:
            raise ScenarioError(f"scenario.{key}: unknown key (known: {', '.join(known_keys())})")
    return scenario


def describe(scenario: Scenario) -> dict[str, Any]:
    """The scenario as JSON in the form ``parse_scenario`` reads (for ``GET /_sandbox/config``),
    with each fault rule's counters (``seen``, ``fired``) added."""
    result: dict[str, Any] = {}
    for f in fields(scenario):
        value = getattr(scenario, f.name)
        if f.name == "faults":
            for name, rule in value.items():
                result[name] = {
                    "rate": rule.rate,
                    "count": rule.count,
                    "every": rule.every,
                    "after": rule.after,
                    "dialects": sorted(rule.dialects),
                    "status": rule.status,
                    "delay_ms": rule.delay_ms,
                    "code": rule.code,
                    "retry_after": rule.retry_after,
                    "seen": rule.seen,
                    "fired": rule.fired,
                }
            continue
        if f.name == "account_errors":
            result["account_error"] = {
                d: {"code": e.code, "after": e.after} for d, e in value.items()
            }
            continue
        if f.name == "template_pauses":
            result["template_paused"] = [{"name": p.name, "after": p.after} for p in value]
            continue
        if isinstance(value, frozenset):
            value = sorted(value)
        elif isinstance(value, dict):
            value = {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
        result[f.name] = value
    return result
