"""Diagnostics: one snapshot of everything that tells a user why messages do or do not
flow — each account's health, the webhook receiver and the tunnel, the status writer
and the poller, and the last events received.

Health checks ask the provider, so they are made on demand (:meth:`DiagnosticsService.check`,
:meth:`DiagnosticsService.check_all`, at most :data:`CHECK_CONCURRENCY` at a time) and the
last report of each account is kept with the time it was made; :meth:`snapshot` never
calls a provider. A check never raises: an incomplete account, a refusal or a timeout
becomes a not-ok report in plain words.

The status intake may be replaced while the app runs (new webhook port or tunnel command:
``Services.apply_webhook_settings``), so the service takes a callable returning the
current one and asks it on every call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from waapp.core import catalogue
from waapp.core.catalogue import Dialect
from waapp.core.entities import Account, AccountKind, InboundMessage, StatusEvent
from waapp.core.errors import WaappError
from waapp.core.ports import HealthReport, Provider, SettingsStore
from waapp.services.events import AccountsChanged, EventBus
from waapp.services.status.intake import StatusIntake
from waapp.services.status.poller import PollSummary
from waapp.services.status.receiver import ReceiverStats, WebhookLogEntry
from waapp.services.status.writer import WriterStats
from waapp.store.worker import DatabaseWorker

__all__ = [
    "CHECK_CONCURRENCY",
    "CHECK_TIMEOUT",
    "AccountHealth",
    "DeadLetterInfo",
    "DiagnosticsService",
    "DiagnosticsSnapshot",
    "LastEvent",
    "PollerInfo",
    "ReceiverInfo",
    "TunnelInfo",
    "WebhookUrls",
    "WriterInfo",
]

log = logging.getLogger(__name__)

CHECK_CONCURRENCY = 4
CHECK_TIMEOUT = 30.0  # seconds; the provider's own timeouts are shorter
EVENTS_SHOWN = 50
_SNIPPET = 80


class AccountsSource(Protocol):
    """What Diagnostics needs of ``waapp.services.accounts.AccountService``."""

    async def list(self) -> list[Account]: ...

    async def test_connection(self, account_id: int) -> HealthReport: ...

    def problem(self, account_id: int) -> str | None: ...

    def providers(self) -> Mapping[int, Provider]: ...


class RecentEvents(Protocol):
    """``waapp.store.statuses.StatusRepository``'s reads for Diagnostics."""

    def recent_events(self, limit: int = 50) -> list[StatusEvent]: ...

    def recent_inbound(self, limit: int = 50) -> list[InboundMessage]: ...


def _now() -> datetime:
    return datetime.now(UTC)


def dialect_of_account(account: Account) -> Dialect | None:
    """The error dialect an account speaks (a Sandbox account: the one it imitates)."""
    if account.kind is AccountKind.SANDBOX:
        value = str(account.settings.get("dialect") or "meta")
    else:
        value = account.kind.value
    try:
        return catalogue.dialect_of(value)
    except ValueError:
        return None


# --- the snapshot ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountHealth:
    """An account and the last thing its health check found (None: not checked yet)."""

    account_id: int
    name: str
    kind: AccountKind
    dialect: Dialect | None
    report: HealthReport | None
    checked_at: datetime | None
    checking: bool = False
    #: Why the account cannot be used at all (a missing field), when so.
    problem: str | None = None

    @property
    def state(self) -> str:
        """One of "ok", "bad" or "unknown" (never checked and nothing known to be wrong)."""
        if self.problem is not None:
            return "bad"
        if self.report is None:
            return "unknown"
        return "ok" if self.report.ok else "bad"

    @property
    def summary(self) -> str:
        if self.problem is not None:
            return self.problem
        if self.report is None:
            return "Not checked yet."
        return self.report.summary

    @property
    def what_to_do(self) -> str | None:
        """The advice for a not-ok account, when it is not already in the summary."""
        if self.problem is not None:
            return "Open the account in Accounts and fill in what is missing."
        if self.report is None or self.report.ok:
            return None
        advice = self.report.details.get("what_to_do")
        code = self.report.details.get("error_code")
        if not advice and code and self.dialect is not None:
            advice = catalogue.lookup(self.dialect, code).account_advice
        if advice and advice not in self.report.summary:
            return advice
        return None

    @property
    def quality_rating(self) -> str | None:
        return self._detail("quality_rating")

    @property
    def messaging_limit(self) -> str | None:
        return self._detail("messaging_limit")

    @property
    def session_status(self) -> str | None:
        return self._detail("session_status")

    @property
    def error_code(self) -> str | None:
        return self._detail("error_code")

    def _detail(self, key: str) -> str | None:
        return None if self.report is None else self.report.details.get(key) or None


@dataclass(frozen=True, slots=True)
class WebhookUrls:
    """Where a provider should send this account's webhooks."""

    account_id: int
    name: str
    local: str | None  # on this computer (None while the receiver is stopped)
    public: str | None  # through the tunnel, while it runs


@dataclass(frozen=True, slots=True)
class ReceiverInfo:
    running: bool
    host: str
    port: int | None
    local_base: str | None
    urls: tuple[WebhookUrls, ...]
    stats: ReceiverStats
    recent: tuple[WebhookLogEntry, ...]

    @property
    def local_only(self) -> bool:
        """True when only programs on this computer can reach it."""
        return self.host in ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True, slots=True)
class TunnelInfo:
    configured: bool
    command: str | None  # as saved in the settings ({port} not replaced)
    state: str  # "off" when no command is set; else stopped / starting / running / failed
    public_url: str | None
    last_lines: tuple[str, ...]
    restarts: int
    error: str | None
    running_command: str | None  # the argument list actually started, quoted


@dataclass(frozen=True, slots=True)
class DeadLetterInfo:
    at: datetime
    events: int
    error: str


@dataclass(frozen=True, slots=True)
class WriterInfo:
    running: bool
    stats: WriterStats
    dead_letters: tuple[DeadLetterInfo, ...]

    @property
    def dead_letter_events(self) -> int:
        return self.stats.dead_letter_events


@dataclass(frozen=True, slots=True)
class PollerInfo:
    running: bool
    interval: float
    totals: PollSummary
    #: The accounts whose provider can be asked (Twilio, WaSender dialects).
    polled_accounts: tuple[str, ...]
    last_tick_at: datetime | None


@dataclass(frozen=True, slots=True)
class LastEvent:
    """One status update or inbound message, as the Last events table shows it."""

    at: datetime
    account_id: int
    account: str
    kind: str  # "status" or "reply"
    reference: str  # the provider's message id, or the sender's number
    text: str  # the status, or the start of the reply
    source: str  # "webhook" or "poll" (replies: "webhook")
    error_code: str | None = None
    error_title: str | None = None
    error_meaning: str | None = None
    error_what_to_do: str | None = None
    #: Status updates: the recipient (+E164) and the provider's own words, when it said.
    recipient: str | None = None
    error_detail: str | None = None


@dataclass(frozen=True, slots=True)
class DiagnosticsSnapshot:
    taken_at: datetime
    accounts: tuple[AccountHealth, ...]
    receiver: ReceiverInfo
    tunnel: TunnelInfo
    writer: WriterInfo
    poller: PollerInfo
    events: tuple[LastEvent, ...]
    #: The saved settings (what the form shows): the port (0 = any free port) and command.
    webhook_port: int
    tunnel_command: str | None


# --- the service -----------------------------------------------------------------------------


class DiagnosticsService:
    """See the module doc. ``port_key`` and ``tunnel_key`` are the settings the composition
    root keeps the webhook port and tunnel command under."""

    def __init__(
        self,
        *,
        accounts: AccountsSource,
        intake: Callable[[], StatusIntake],
        statuses: RecentEvents,
        settings: SettingsStore,
        worker: DatabaseWorker,
        bus: EventBus,
        port_key: str,
        tunnel_key: str,
        clock: Callable[[], datetime] = _now,
        check_timeout: float = CHECK_TIMEOUT,
    ) -> None:
        self._accounts = accounts
        self._intake = intake
        self._statuses = statuses
        self._settings = settings
        self._worker = worker
        self._port_key = port_key
        self._tunnel_key = tunnel_key
        self._clock = clock
        self._timeout = check_timeout
        self._limit = asyncio.Semaphore(CHECK_CONCURRENCY)
        self._reports: dict[int, tuple[HealthReport, datetime]] = {}
        self._checking: set[int] = set()
        # An edited account's old report would mislead (a fixed token still shown red).
        self._unsubscribe = bus.subscribe(AccountsChanged, lambda _e: self._reports.clear())

    def close(self) -> None:
        self._unsubscribe()

    # --- health checks -----------------------------------------------------------------------

    def last_report(self, account_id: int) -> tuple[HealthReport, datetime] | None:
        return self._reports.get(account_id)

    async def check(self, account_id: int) -> HealthReport:
        """Ask the provider now; the report is kept for :meth:`snapshot`. Never raises
        (except for cancellation): a failure is a not-ok report saying what went wrong."""
        self._checking.add(account_id)
        try:
            async with self._limit:
                report = await self._ask(account_id)
        finally:
            self._checking.discard(account_id)
        self._reports[account_id] = (report, self._clock())
        return report

    async def _ask(self, account_id: int) -> HealthReport:
        try:
            return await asyncio.wait_for(self._accounts.test_connection(account_id), self._timeout)
        except TimeoutError:
            return HealthReport(
                False,
                f"The provider did not answer within {self._timeout:.0f} seconds.",
                {"what_to_do": "Check the internet connection and try again in a minute."},
            )
        except WaappError as error:
            details = {"what_to_do": error.what_to_do} if error.what_to_do else {}
            return HealthReport(False, error.message, details)
        except Exception as error:  # a bug or an unexpected answer: say so, keep going
            log.exception("Health check of account %s failed", account_id)
            return HealthReport(
                False,
                f"The check could not be made ({type(error).__name__}).",
                {"what_to_do": "Try again; if it keeps happening, send the log file to support."},
            )

    async def check_all(self) -> dict[int, HealthReport]:
        """Check every account, a few at a time; the reports by account id."""
        ids = [a.id for a in await self._accounts.list() if a.id is not None]
        reports = await asyncio.gather(*(self.check(account_id) for account_id in ids))
        return dict(zip(ids, reports, strict=True))

    # --- the snapshot --------------------------------------------------------------------

    async def snapshot(self) -> DiagnosticsSnapshot:
        """Everything at once; reads the store on the worker and never calls a provider."""
        accounts = await self._accounts.list()
        known = {a.id for a in accounts}
        for stale in set(self._reports) - known:
            del self._reports[stale]
        intake = self._intake()
        port, command = await self._worker.run(self._read_settings)
        events = await self._worker.run(self._read_events, EVENTS_SHOWN)
        return DiagnosticsSnapshot(
            taken_at=self._clock(),
            accounts=tuple(self._health(a) for a in accounts if a.id is not None),
            receiver=self._receiver(intake, accounts),
            tunnel=self._tunnel(intake, command),
            writer=self._writer(intake),
            poller=self._poller(intake, accounts),
            events=self._last_events(events, accounts)[:EVENTS_SHOWN],
            webhook_port=port,
            tunnel_command=command,
        )

    async def recent_events(self, limit: int = EVENTS_SHOWN) -> list[LastEvent]:
        """The last status updates and replies, newest first."""
        accounts = await self._accounts.list()
        events = await self._worker.run(self._read_events, limit)
        return list(self._last_events(events, accounts))[:limit]

    async def retry_dead_letters(self) -> int:
        """Queue the events that could not be written again; how many."""
        return self._intake().writer.retry_dead_letters()

    # --- pieces --------------------------------------------------------------------------

    def _read_settings(self) -> tuple[int, str | None]:
        raw_port = self._settings.get(self._port_key, 0)
        try:
            port = int(raw_port or 0)
        except (TypeError, ValueError):
            port = 0
        command = self._settings.get(self._tunnel_key, None)
        return port, (str(command).strip() or None) if command else None

    def _read_events(self, limit: int) -> tuple[list[StatusEvent], list[InboundMessage]]:
        return self._statuses.recent_events(limit), self._statuses.recent_inbound(limit)

    def _health(self, account: Account) -> AccountHealth:
        assert account.id is not None
        cached = self._reports.get(account.id)
        return AccountHealth(
            account_id=account.id,
            name=account.name,
            kind=account.kind,
            dialect=dialect_of_account(account),
            report=cached[0] if cached else None,
            checked_at=cached[1] if cached else None,
            checking=account.id in self._checking,
            problem=self._accounts.problem(account.id),
        )

    @staticmethod
    def _receiver(intake: StatusIntake, accounts: Sequence[Account]) -> ReceiverInfo:
        receiver = intake.receiver
        running = receiver.running
        public = intake.public_url()
        urls = tuple(
            WebhookUrls(
                account_id=a.id,
                name=a.name,
                local=receiver.local_base + receiver.path_for(a.id) if running else None,
                public=public.rstrip("/") + receiver.path_for(a.id) if public else None,
            )
            for a in accounts
            if a.id is not None
        )
        return ReceiverInfo(
            running=running,
            host=receiver.host,
            port=receiver.port if running else None,
            local_base=receiver.local_base if running else None,
            urls=urls,
            stats=receiver.stats(),
            recent=tuple(receiver.recent()),
        )

    @staticmethod
    def _tunnel(intake: StatusIntake, command: str | None) -> TunnelInfo:
        tunnel = intake.tunnel
        if tunnel is None:
            return TunnelInfo(
                configured=command is not None,
                command=command,
                state="off" if command is None else "stopped",
                public_url=None,
                last_lines=(),
                restarts=0,
                error=None,
                running_command=None,
            )
        status = tunnel.status()
        return TunnelInfo(
            configured=True,
            command=command,
            state=status.state.value,
            public_url=status.public_url,
            last_lines=status.last_lines,
            restarts=status.restarts,
            error=status.error,
            running_command=shlex.join(tunnel.argv),
        )

    @staticmethod
    def _writer(intake: StatusIntake) -> WriterInfo:
        writer = intake.writer
        return WriterInfo(
            running=writer.running,
            stats=writer.stats(),
            dead_letters=tuple(
                DeadLetterInfo(letter.at, len(letter.events), letter.error)
                for letter in writer.dead_letters
            ),
        )

    def _poller(self, intake: StatusIntake, accounts: Sequence[Account]) -> PollerInfo:
        poller = intake.poller
        providers = dict(self._accounts.providers())
        names = {a.id: a.name for a in accounts}
        polled = tuple(
            names.get(account_id, f"Account {account_id}")
            for account_id, provider in providers.items()
            if provider.supports_polling
        )
        # The poller keeps no tick time of its own yet; read it when it does.
        last_tick: Any = getattr(poller, "last_tick_at", None)
        return PollerInfo(
            running=poller.running,
            interval=poller.interval,
            totals=poller.totals,
            polled_accounts=polled,
            last_tick_at=last_tick if isinstance(last_tick, datetime) else None,
        )

    @staticmethod
    def _last_events(
        found: tuple[list[StatusEvent], list[InboundMessage]], accounts: Sequence[Account]
    ) -> tuple[LastEvent, ...]:
        statuses, replies = found
        by_id = {a.id: a for a in accounts}
        rows: list[LastEvent] = []
        for event in statuses:
            account = by_id.get(event.account_id)
            dialect = dialect_of_account(account) if account is not None else None
            entry = (
                catalogue.lookup(dialect, event.error_code)
                if event.error_code and dialect is not None
                else None
            )
            extra = _raw_fields(event.raw)
            error = extra.get("error")
            rows.append(
                LastEvent(
                    at=event.received_at,
                    account_id=event.account_id,
                    account=account.name if account else f"Account {event.account_id}",
                    kind="status",
                    reference=event.provider_message_id,
                    text=event.status,
                    source=event.source,
                    error_code=event.error_code,
                    error_title=entry.title if entry else None,
                    error_meaning=entry.meaning if entry else None,
                    error_what_to_do=entry.what_to_do if entry else None,
                    recipient=_text(extra.get("recipient")),
                    error_detail=_text(error.get("detail")) if isinstance(error, dict) else None,
                )
            )
        for reply in replies:
            account = by_id.get(reply.account_id)
            body = " ".join(reply.body.split())
            rows.append(
                LastEvent(
                    at=reply.received_at,
                    account_id=reply.account_id,
                    account=account.name if account else f"Account {reply.account_id}",
                    kind="reply",
                    reference=reply.from_phone,
                    text=body if len(body) <= _SNIPPET else body[: _SNIPPET - 1] + "…",
                    source="webhook",
                )
            )
        rows.sort(key=lambda row: row.at, reverse=True)
        return tuple(rows)


def _raw_fields(raw: str) -> dict[str, Any]:
    """The extra fields the store keeps with a status update (recipient, error detail)."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
