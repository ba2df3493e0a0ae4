"""The webhook receiver: an ``aiohttp.web`` server on the application's own loop.

One path per account, ``/webhooks/{account_id}``:

- ``POST``: the body (at most ``max_body`` bytes, else 413) is checked by the account's
  provider (``Provider.verify_webhook``, constant time) against the **public** URL the
  provider called — the tunnel's public base when there is one, else the request's own URL
  — and refused with 403 when it does not verify. A verified request is answered at once
  (200; Twilio gets an empty TwiML ``<Response/>``), and only then parsed
  (``Provider.parse_webhook``) and queued on the writer.
- ``GET``: Meta's subscription handshake (``hub.challenge``), through
  ``Provider.verify_subscription``: 200 with the raw challenge, or 403.

Answers, decided per the providers' retry behaviour (they retry on anything but 2xx):

==========================================  ==========  ===================================
request                                     answer      why
==========================================  ==========  ===================================
unknown account (or not a number)           404         nothing will ever accept it here
body larger than ``max_body``               413         never a valid webhook
the provider's check raised (unreadable)    400         logged; a retry brings the same
signature missing / wrong / body changed    403         logged; nothing is parsed
writer full (back-pressure)                 503         ``Retry-After``: the provider retries
verified but unparseable, unknown fields    200         logged and ignored: a retry would
                                                        bring the same signed bytes
==========================================  ==========  ===================================

Nothing a request contains makes it answer 500 or stop the server. Every refusal is
logged (one line, at WARNING) and counted in :meth:`WebhookReceiver.stats` and
:meth:`WebhookReceiver.recent` for Diagnostics.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from waapp.core.catalogue import Dialect
from waapp.core.ports import Provider, WebhookRequest
from waapp.services.status.writer import EventSink

__all__ = ["DEFAULT_MAX_BODY", "ReceiverStats", "WebhookLogEntry", "WebhookReceiver"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 1024 * 1024  # 1 MiB: a Meta batch of statuses is a few tens of KB

_TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
_PATH = "/webhooks/{account_id}"


@dataclass(frozen=True, slots=True)
class WebhookLogEntry:
    """One request, as Diagnostics lists the last ones."""

    at: datetime
    account_id: int | None
    method: str
    status: int  # the HTTP answer
    outcome: str  # "accepted", "forged", "too large", "malformed", "unknown account", …
    events: int = 0


@dataclass(frozen=True, slots=True)
class ReceiverStats:
    requests: int = 0
    accepted: int = 0  # verified POSTs answered 200
    events: int = 0  # parsed events queued
    forged: int = 0  # 403: signature missing or wrong
    malformed: int = 0  # 400, or verified but unparseable (200 and ignored)
    too_large: int = 0  # 413
    unknown_account: int = 0  # 404
    busy: int = 0  # 503
    handshakes: int = 0  # GET challenges answered
    handshakes_refused: int = 0
    last_accepted_at: datetime | None = None
    last_rejected_at: datetime | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _brief(exc: BaseException) -> str:
    """An exception for a log line: its type and the start of its message. Parser errors
    quote the request body, which is the sender's text (or garbage), of any size."""
    text = str(exc)
    return f"{type(exc).__name__}: {text[:160]}{'…' if len(text) > 160 else ''}"


class WebhookReceiver:
    """See the module doc. ``await start()`` on the application loop; ``await stop()``."""

    def __init__(
        self,
        *,
        provider_for: Callable[[int], Provider | None],
        sink: EventSink,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body: int = DEFAULT_MAX_BODY,
        public_base: Callable[[], str | None] = lambda: None,
        clock: Callable[[], datetime] = _now,
        keep_recent: int = 100,
    ) -> None:
        self._provider_for = provider_for
        self._sink = sink
        self.host = host
        self._port = port
        self.max_body = max_body
        self._public_base = public_base
        self._clock = clock
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None
        self._counts: dict[str, int] = dict.fromkeys(
            (
                "requests", "accepted", "events", "forged", "malformed", "too_large",
                "unknown_account", "busy", "handshakes", "handshakes_refused",
            ),
            0,
        )  # fmt: skip
        self._last_accepted_at: datetime | None = None
        self._last_rejected_at: datetime | None = None
        self._recent: deque[WebhookLogEntry] = deque(maxlen=keep_recent)

    # --- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and serve. Raises OSError when the port cannot be bound."""
        if self._runner is not None:
            return
        app = web.Application(client_max_size=self.max_body)
        app.router.add_post(_PATH, self._post)
        app.router.add_get(_PATH, self._get)
        # No access log (a line per request at thousands per second) and no signal
        # handlers: the application owns the loop and its signals.
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._bound_port = int(runner.addresses[0][1])
        log.info("Webhook receiver listening on %s", self.local_base)

    async def stop(self) -> None:
        """Stop listening; requests being handled finish first (up to 5 s). Idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            log.info("Webhook receiver stopped")

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def port(self) -> int:
        """The bound port (the configured one, or the one the OS chose for 0)."""
        if self._bound_port is None:
            raise RuntimeError("the webhook receiver is not started")
        return self._bound_port

    @property
    def local_base(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def path_for(self, account_id: int) -> str:
        return _PATH.format(account_id=account_id)

    def url_for(self, account_id: int) -> str:
        """Where the provider should send this account's webhooks: the public URL when a
        tunnel runs (Twilio ``StatusCallback``), else the local one."""
        base = self._public_base() or self.local_base
        return base.rstrip("/") + self.path_for(account_id)

    # --- diagnostics -------------------------------------------------------------------

    def stats(self) -> ReceiverStats:
        return ReceiverStats(
            **self._counts,
            last_accepted_at=self._last_accepted_at,
            last_rejected_at=self._last_rejected_at,
        )

    def recent(self) -> list[WebhookLogEntry]:
        """The last requests, newest first."""
        return list(reversed(self._recent))

    def _note(
        self,
        account_id: int | None,
        method: str,
        status: int,
        outcome: str,
        counter: str,
        events: int = 0,
    ) -> None:
        at = self._clock()
        self._counts[counter] += 1
        if status >= 300:
            self._last_rejected_at = at
        self._recent.append(WebhookLogEntry(at, account_id, method, status, outcome, events))

    def _refuse(
        self, request: web.Request, account_id: int | None, status: int, outcome: str, counter: str
    ) -> web.Response:
        log.warning(
            "Webhook %s %s from %s refused (%d %s)",
            request.method,
            request.path,
            request.remote,
            status,
            outcome,
        )
        self._note(account_id, request.method, status, outcome, counter)
        return web.Response(status=status, text=outcome)

    # --- handlers ----------------------------------------------------------------------

    def _provider(self, request: web.Request) -> tuple[int | None, Provider | None]:
        raw = request.match_info.get("account_id", "")
        if not (raw.isascii() and raw.isdecimal() and len(raw) < 19):
            return None, None
        account_id = int(raw)
        try:
            return account_id, self._provider_for(account_id)
        except Exception:
            log.exception("Looking up the provider of account %s failed", account_id)
            return account_id, None

    def _public_url(self, request: web.Request) -> str:
        """The URL the provider called: what Twilio signs (path and query as sent)."""
        base = self._public_base()
        if base:
            return base.rstrip("/") + request.raw_path
        return f"{request.scheme}://{request.host}{request.raw_path}"

    async def _post(self, request: web.Request) -> web.StreamResponse:
        self._counts["requests"] += 1
        account_id, provider = self._provider(request)
        if provider is None or account_id is None:
            return self._refuse(request, account_id, 404, "unknown account", "unknown_account")
        if request.content_length is not None and request.content_length > self.max_body:
            return self._refuse(request, account_id, 413, "too large", "too_large")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._refuse(request, account_id, 413, "too large", "too_large")
        webhook = WebhookRequest("POST", self._public_url(request), request.headers, body)
        try:
            verified = provider.verify_webhook(webhook)
        except Exception as exc:
            log.warning("Webhook for account %s could not be checked: %s", account_id, _brief(exc))
            return self._refuse(request, account_id, 400, "malformed", "malformed")
        if not verified:
            return self._refuse(request, account_id, 403, "forged or unsigned", "forged")
        if not self._sink.has_room():
            response = self._refuse(request, account_id, 503, "busy", "busy")
            response.headers["Retry-After"] = "5"
            return response

        # Answer first: the provider is waiting, and nothing below can change the answer.
        if provider.dialect is Dialect.TWILIO:
            response = web.Response(text=_TWIML_EMPTY, content_type="text/xml")
        else:
            response = web.Response(text="")
        try:
            await response.prepare(request)
            await response.write_eof()
        except ConnectionError as exc:
            # The provider hung up first; it will send the webhook again (deduplicated), but
            # what it sent this time is verified and is kept.
            log.info("Webhook for account %s: the answer was not delivered (%s)", account_id, exc)
        self._counts["accepted"] += 1
        self._last_accepted_at = self._clock()

        try:
            events = provider.parse_webhook(webhook)
        except Exception as exc:
            log.warning(
                "Webhook for account %s verified but not understood (ignored): %s",
                account_id,
                _brief(exc),
            )
            self._note(account_id, "POST", 200, "malformed (ignored)", "malformed")
            return response
        self._sink.put(account_id, events, source="webhook")
        self._counts["events"] += len(events)
        self._recent.append(
            WebhookLogEntry(
                self._last_accepted_at, account_id, "POST", 200, "accepted", len(events)
            )
        )
        return response

    async def _get(self, request: web.Request) -> web.StreamResponse:
        self._counts["requests"] += 1
        account_id, provider = self._provider(request)
        if provider is None:
            return self._refuse(request, account_id, 404, "unknown account", "unknown_account")
        try:
            challenge = provider.verify_subscription(dict(request.query))
        except Exception as exc:
            log.warning("Subscription check for account %s failed: %s", account_id, _brief(exc))
            challenge = None
        if challenge is None:
            return self._refuse(request, account_id, 403, "handshake refused", "handshakes_refused")
        self._note(account_id, "GET", 200, "handshake", "handshakes")
        return web.Response(text=challenge, content_type="text/plain")
