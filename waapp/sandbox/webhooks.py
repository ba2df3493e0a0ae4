"""Timed events and signed webhook delivery.

:class:`Timeline` holds the world's planned events (status steps, replies, session
changes) in one heap behind one timer, so planning a message costs a few heap pushes and
never a task. When an event is due, :class:`Dispatcher` applies it to the world (a status
moves the message forward) and turns it into a webhook for the dialect's target:

* Twilio: one form POST per status, to the message's ``StatusCallback`` or the configured
  ``status_callback``, signed with ``X-Twilio-Signature`` over the URL and the parameters;
* Meta: statuses for the same target collected for ``meta_batch_window_ms`` (at most
  ``meta_batch_max``) into one JSON POST, signed with ``X-Hub-Signature-256`` (and the
  legacy ``X-Hub-Signature``) over exactly the bytes sent;
* WaSender: one JSON POST per event with ``X-Webhook-Signature: <secret>``.

Deliveries go through one ``aiohttp.ClientSession`` and ``webhook_concurrency`` worker
tasks; a target that fails (non-2xx, timeout, refused) is retried after each delay of the
dialect's ``webhook_retry_ms`` (Meta retries by default, Twilio does not), then given up.
Every attempt is logged for ``GET /_sandbox/webhooks``. Nothing here ever blocks a request
handler: a slow target only lengthens the queue.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from heapq import heappop, heappush
from itertools import count
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import aiohttp

from waapp.core.signatures import meta_signature, twilio_signature
from waapp.sandbox import meta, twilio, wasender
from waapp.sandbox.world import (
    Event,
    Inbound,
    InboundEvent,
    Message,
    SessionEvent,
    StatusEvent,
    iso_time,
)

if TYPE_CHECKING:
    from waapp.sandbox.server import Sandbox

log = logging.getLogger(__name__)

#: Deliveries kept for ``GET /_sandbox/webhooks`` (the oldest are forgotten first).
LOG_SIZE = 20_000


@dataclass(slots=True)
class Delivery:
    dialect: str
    kind: str
    url: str
    body: bytes
    headers: dict[str, str]
    #: What the delivery carries, for the log: [{"id", "status"}] or [{"from", "text"}].
    summary: list[dict[str, Any]]
    #: Units of pending work this delivery settles when it is done.
    units: int = 1
    attempt: int = 1


@dataclass(slots=True)
class _Retry:
    delivery: Delivery


@dataclass(slots=True)
class _MetaBuffer:
    items: list[dict[str, Any]] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    handle: asyncio.TimerHandle | None = None


class Timeline:
    """Events due at loop times, fired in order by one timer."""

    def __init__(self, fire: Callable[[list[Any]], None]) -> None:
        self._fire = fire
        self._heap: list[tuple[float, int, Any]] = []
        self._seq = count()
        self._handle: asyncio.TimerHandle | None = None
        self._handle_at = float("inf")
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, delay: float, item: Any) -> None:
        loop = self._loop
        if loop is None:
            raise RuntimeError("the Sandbox is not running")
        due = loop.time() + delay
        heappush(self._heap, (due, next(self._seq), item))
        if due < self._handle_at:
            if self._handle is not None:
                self._handle.cancel()
            self._handle = loop.call_at(due, self._run)
            self._handle_at = due

    def _run(self) -> None:
        assert self._loop is not None
        self._handle, self._handle_at = None, float("inf")
        now = self._loop.time() + 0.0005
        due = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            due.append(heappop(heap)[2])
        if heap:
            self._handle_at = heap[0][0]
            self._handle = self._loop.call_at(self._handle_at, self._run)
        if due:
            self._fire(due)

    def clear(self) -> int:
        """Drop every pending event; returns how many there were."""
        dropped = len(self._heap)
        self._heap.clear()
        if self._handle is not None:
            self._handle.cancel()
        self._handle, self._handle_at = None, float("inf")
        return dropped


class Dispatcher:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self.timeline = Timeline(self._fire)
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)
        self._queue: asyncio.Queue[Delivery] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._meta_buffers: dict[str, _MetaBuffer] = {}
        self._pending = 0
        self._idle: asyncio.Event | None = None
        self.delivered = 0
        self.failed = 0

    # --- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.timeline.bind(loop)
        self._queue = asyncio.Queue()
        self._idle = asyncio.Event()
        self._idle.set()
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
            auto_decompress=False,
        )
        self.resize()

    def resize(self) -> None:
        """Match the worker count to the scenario's ``webhook_concurrency``."""
        if self._queue is None:
            return
        wanted = self._sandbox.world.scenario.webhook_concurrency
        while len(self._workers) < wanted:
            self._workers.append(asyncio.get_running_loop().create_task(self._work()))
        while len(self._workers) > wanted:
            self._workers.pop().cancel()

    async def stop(self) -> None:
        self.clear()
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._queue = None

    def clear(self) -> None:
        """Forget every planned event, buffered status and queued delivery."""
        self.timeline.clear()
        for buffer in self._meta_buffers.values():
            if buffer.handle is not None:
                buffer.handle.cancel()
        self._meta_buffers.clear()
        if self._queue is not None:
            while not self._queue.empty():
                self._queue.get_nowait()
        self._pending = 0
        if self._idle is not None:
            self._idle.set()

    # --- pending work ---------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Planned events, buffered statuses and deliveries not yet done."""
        return self._pending

    def _add(self, units: int) -> None:
        self._pending += units
        if self._idle is not None and self._pending > 0:
            self._idle.clear()

    def _done(self, units: int) -> None:
        self._pending = max(0, self._pending - units)
        if self._pending == 0 and self._idle is not None:
            self._idle.set()

    async def settle(self, timeout: float) -> bool:
        """Wait until nothing is pending; False if ``timeout`` passed first."""
        if self._idle is None or self._pending == 0:
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def schedule(self, delay: float, event: Event | _Retry) -> None:
        if not isinstance(event, _Retry):
            self._add(1)
        self.timeline.push(delay, event)

    # --- events → deliveries --------------------------------------------------------------

    def _fire(self, events: list[Any]) -> None:
        now = time.time()
        for event in events:
            try:
                if isinstance(event, _Retry):
                    self._enqueue(event.delivery)
                elif isinstance(event, StatusEvent):
                    self._status(event, now)
                elif isinstance(event, InboundEvent):
                    self._inbound(event.inbound, now)
                else:
                    self._session_status(event)
            except Exception:  # one bad event must not stop the timeline
                log.exception("sandbox: could not handle %r", event)
                self._done(1)

    def _enqueue(self, delivery: Delivery) -> None:
        if self._queue is None:
            self._done(delivery.units)
            return
        self._queue.put_nowait(delivery)

    def _status(self, event: StatusEvent, now: float) -> None:
        sandbox = self._sandbox
        message, status = event.message, event.status
        sandbox.world.advance(message, status, now)
        summary = [{"id": message.id, "status": status, "duplicate": event.duplicate}]
        if message.dialect == "twilio":
            url = message.callback_url or sandbox.settings.twilio.status_callback
            if url is None:
                self._done(1)
                return
            settings = sandbox.settings.twilio
            params = twilio.status_params(message, status, settings.account_sid, settings.sender)
            self._enqueue(self._twilio(url, params, "status", summary))
        elif message.dialect == "meta":
            url = sandbox.settings.meta.webhook_url
            if url is None:
                self._done(1)
                return
            self._buffer_meta(url, meta.status_object(message, status, now), message, summary[0])
        else:
            url = sandbox.settings.wasender.webhook_url
            if url is None:
                self._done(1)
                return
            payload = wasender.update_payload(sandbox, message, status)
            self._enqueue(self._wasender(url, payload, "status", summary))

    def _inbound(self, inbound: Inbound, now: float) -> None:
        sandbox = self._sandbox
        world = sandbox.world
        if not inbound.id:  # a simulated reply, written now
            inbound.at = now
            world.record_inbound(inbound)
        summary = [{"from": inbound.phone, "text": inbound.text}]
        deliveries = []
        dialects = (inbound.dialect,) if inbound.dialect else ("twilio", "meta", "wasender")
        for dialect in dialects:
            twilio_target = sandbox.settings.twilio.inbound_target
            if dialect == "twilio" and twilio_target:
                settings = sandbox.settings.twilio
                sender = (
                    inbound.reply_to.sender
                    if inbound.reply_to is not None
                    and inbound.reply_to.sender.startswith("whatsapp:")
                    else "whatsapp:" + settings.sender
                )
                params = twilio.inbound_params(
                    inbound, settings.account_sid, sender.removeprefix("whatsapp:")
                )
                deliveries.append(self._twilio(twilio_target, params, "inbound", summary))
            elif dialect == "meta" and sandbox.settings.meta.webhook_url:
                payload = meta.inbound_payload(
                    sandbox, inbound, world.wamid(world.wa_id(inbound.phone))
                )
                deliveries.append(
                    self._meta(sandbox.settings.meta.webhook_url, payload, "inbound", summary)
                )
            elif dialect == "wasender" and sandbox.settings.wasender.webhook_url:
                payload = wasender.received_payload(sandbox, inbound, world.wasender_key_id())
                deliveries.append(
                    self._wasender(
                        sandbox.settings.wasender.webhook_url, payload, "inbound", summary
                    )
                )
        self._add(len(deliveries))
        self._done(1)
        for delivery in deliveries:
            self._enqueue(delivery)

    def _session_status(self, event: SessionEvent) -> None:
        url = self._sandbox.settings.wasender.webhook_url
        if url is None:
            self._done(1)
            return
        payload = wasender.session_payload(self._sandbox, event.status)
        self._enqueue(self._wasender(url, payload, "session", [{"status": event.status}]))

    def _buffer_meta(
        self, url: str, item: dict[str, Any], message: Message, summary: dict[str, Any]
    ) -> None:
        scenario = self._sandbox.world.scenario
        buffer = self._meta_buffers.get(url)
        if buffer is None:
            buffer = self._meta_buffers[url] = _MetaBuffer()
        buffer.items.append(item)
        buffer.messages.append(message)
        buffer.summary.append(summary)
        if len(buffer.items) >= scenario.meta_batch_max or scenario.meta_batch_window_ms <= 0:
            self._flush_meta(url)
        elif buffer.handle is None:
            loop = asyncio.get_running_loop()
            buffer.handle = loop.call_later(
                scenario.meta_batch_window_ms / 1000.0 / scenario.speed, self._flush_meta, url
            )

    def _flush_meta(self, url: str) -> None:
        buffer = self._meta_buffers.pop(url, None)
        if buffer is None or not buffer.items:
            return
        if buffer.handle is not None:
            buffer.handle.cancel()
        style = self._sandbox.world.scenario.meta_batch_style
        if style == "entries":  # one contact per entry, next to its status
            contacts = [meta.status_contacts(self._sandbox, [m])[0] for m in buffer.messages]
        else:
            contacts = meta.status_contacts(self._sandbox, buffer.messages)
        payload = meta.envelope(
            self._sandbox, "statuses", buffer.items, style=style, contacts=contacts
        )
        delivery = self._meta(url, payload, "status", buffer.summary)
        delivery.units = len(buffer.items)
        self._enqueue(delivery)

    # --- signing --------------------------------------------------------------------------

    def _twilio(
        self, url: str, params: list[tuple[str, str]], kind: str, summary: list[dict[str, Any]]
    ) -> Delivery:
        token = self._sandbox.settings.twilio.auth_token
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(url, params, token),
            "User-Agent": "TwilioProxy/1.1",
        }
        return Delivery("twilio", kind, url, urlencode(params).encode(), headers, summary)

    def _meta(
        self, url: str, payload: dict[str, Any], kind: str, summary: list[dict[str, Any]]
    ) -> Delivery:
        ascii_only = self._sandbox.world.scenario.meta_ascii_json
        body = json.dumps(payload, ensure_ascii=ascii_only, separators=(",", ":")).encode()
        secret = self._sandbox.settings.meta.app_secret
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": meta_signature(body, secret),
            "X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
            "User-Agent": "facebookexternalua",
        }
        return Delivery("meta", kind, url, body, headers, summary)

    def _wasender(
        self, url: str, payload: dict[str, Any], kind: str, summary: list[dict[str, Any]]
    ) -> Delivery:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Signature": self._sandbox.settings.wasender.webhook_secret,
        }
        return Delivery("wasender", kind, url, body, headers, summary)

    # --- the Meta handshake -----------------------------------------------------------------

    async def verify_meta(self) -> dict[str, Any]:
        """Meta's GET verification of the webhook URL (providers.md §2.7): the target must
        answer 200 with the ``hub.challenge`` as its body."""
        settings = self._sandbox.settings.meta
        url = settings.webhook_url
        if url is None or self._session is None:
            return {
                "url": url,
                "status": None,
                "body": None,
                "verified": False,
                "error": "no Meta webhook_url is configured" if url is None else "not running",
            }
        challenge = str(self._sandbox.world.id_rng.getrandbits(40))
        params = {
            "hub.mode": "subscribe",
            "hub.challenge": challenge,
            "hub.verify_token": settings.verify_token,
        }
        timeout = aiohttp.ClientTimeout(
            total=self._sandbox.world.scenario.webhook_timeout_ms / 1000.0
        )
        try:
            async with self._session.get(
                url, params=params, timeout=timeout, allow_redirects=False
            ) as response:
                body = (await response.read()).decode("utf-8", "replace")
                status: int | None = response.status
                error = None
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            body, status, error = None, None, f"{type(exc).__name__}: {exc}"
        return {
            "url": url,
            "status": status,
            "body": body,
            "challenge": challenge,
            "verified": status == 200 and body == challenge,
            "error": error,
        }

    # --- delivery -------------------------------------------------------------------------

    async def _work(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            delivery = await queue.get()
            try:
                await self._deliver(delivery)
            except asyncio.CancelledError:
                self._done(delivery.units)
                raise
            except Exception:
                log.exception("sandbox: webhook delivery failed unexpectedly")
                self._done(delivery.units)

    async def _deliver(self, delivery: Delivery) -> None:
        session = self._session
        scenario = self._sandbox.world.scenario
        status: int | None = None
        error: str | None = None
        if session is None:
            self._done(delivery.units)
            return
        try:
            timeout = aiohttp.ClientTimeout(total=scenario.webhook_timeout_ms / 1000.0)
            async with session.post(
                delivery.url,
                data=delivery.body,
                headers=delivery.headers,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        self.log.append(
            {
                "time": iso_time(time.time()),
                "dialect": delivery.dialect,
                "kind": delivery.kind,
                "url": delivery.url,
                "attempt": delivery.attempt,
                "status": status,
                "error": error,
                "events": delivery.summary,
                "headers": delivery.headers,
                "body": delivery.body.decode("utf-8", "replace"),
            }
        )
        if ok:
            self.delivered += 1
            self._done(delivery.units)
            return
        delays = scenario.webhook_retry_ms.get(delivery.dialect, ())
        if delivery.attempt <= len(delays):
            delay = delays[delivery.attempt - 1] / 1000.0 / scenario.speed
            delivery.attempt += 1
            self.timeline.push(delay, _Retry(delivery))
            return
        self.failed += 1
        self._done(delivery.units)
