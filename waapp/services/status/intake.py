"""The status intake as one service: writer, webhook receiver, poller and tunnel, started
and stopped together in the right order.

Start: writer (so that nothing accepted waits for it) → receiver (its port is needed by
the tunnel command) → tunnel → poller. Stop is the reverse: the poller and the tunnel
stop, the receiver finishes the requests it is handling, and the writer drains last, so
that every event answered with 200 is written before :meth:`StatusIntake.stop` returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Protocol

from waapp.core.ports import Provider, SettingsStore
from waapp.services.events import EventBus, TunnelStateChanged
from waapp.services.status.poller import InFlightSource, StatusPoller
from waapp.services.status.receiver import DEFAULT_MAX_BODY, WebhookReceiver
from waapp.services.status.tunnel import Tunnel, TunnelStatus
from waapp.services.status.writer import StatusStore, StatusWriter
from waapp.store.worker import DatabaseWorker

__all__ = ["IntakeStore", "StatusIntake"]


class IntakeStore(StatusStore, InFlightSource, Protocol):
    """``waapp.store.statuses.StatusRepository``, as the intake sees it."""


class StatusIntake:
    """Owns :attr:`writer`, :attr:`receiver`, :attr:`poller` and (when a command is
    configured) :attr:`tunnel`. ``providers()`` returns the current provider of each
    active account; it is asked on every request and every poll tick, so accounts added
    or removed while running are followed."""

    def __init__(
        self,
        *,
        statuses: IntakeStore,
        settings: SettingsStore,
        worker: DatabaseWorker,
        bus: EventBus,
        providers: Callable[[], Mapping[int, Provider]],
        host: str = "127.0.0.1",
        port: int = 0,
        max_body: int = DEFAULT_MAX_BODY,
        tunnel_command: str | Sequence[str] | None = None,
        poll_interval: float = 30.0,
        poll_min_age: timedelta = timedelta(seconds=10),
    ) -> None:
        self._bus = bus
        self._providers = providers
        self._tunnel_command = tunnel_command
        self.writer = StatusWriter(statuses=statuses, settings=settings, worker=worker, bus=bus)
        self.receiver = WebhookReceiver(
            provider_for=lambda account_id: providers().get(account_id),
            sink=self.writer,
            host=host,
            port=port,
            max_body=max_body,
            public_base=self.public_url,
        )
        self.poller = StatusPoller(
            providers=providers,
            statuses=statuses,
            worker=worker,
            sink=self.writer,
            interval=poll_interval,
            min_age=poll_min_age,
        )
        self.tunnel: Tunnel | None = None

    def public_url(self) -> str | None:
        """The tunnel's public base URL while it runs, else None."""
        return None if self.tunnel is None else self.tunnel.public_url

    def url_for(self, account_id: int) -> str:
        """The webhook URL to give the provider for this account (public when possible)."""
        return self.receiver.url_for(account_id)

    async def start(self) -> None:
        self.writer.start()
        try:
            await self.receiver.start()
        except BaseException:
            await self.writer.stop()
            raise
        if self._tunnel_command:
            self.tunnel = Tunnel(
                self._tunnel_command, port=self.receiver.port, on_change=self._tunnel_changed
            )
            self.tunnel.start()
        self.poller.start()

    async def stop(self) -> None:
        await self.poller.stop()
        if self.tunnel is not None:
            await self.tunnel.stop()
        await self.receiver.stop()
        await self.writer.stop()

    def _tunnel_changed(self, status: TunnelStatus) -> None:
        self._bus.publish(TunnelStateChanged(status.state.value, status.public_url))
