"""DiagnosticsService on a real store with the in-process Sandbox, and
``Services.apply_webhook_settings``."""

from __future__ import annotations

import asyncio
import shlex
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from waapp.app import TUNNEL_COMMAND_KEY, WEBHOOK_PORT_KEY, Services, open_services
from waapp.core.catalogue import lookup
from waapp.core.entities import Account, AccountKind
from waapp.core.errors import ValidationError
from waapp.core.ports import HealthReport, Provider, StatusUpdate
from waapp.core.states import DeliveryStatus
from waapp.paths import DataPaths
from waapp.services.diagnostics import DiagnosticsService
from waapp.services.events import AccountsChanged
from waapp.services.status.writer import StatusWriter

CUSTOMER = "+919876543210"
STRANGER = "+919876500000"  # never wrote: free-form to them fails with 131047


def diagnostics(services: Services, **kwargs: Any) -> DiagnosticsService:
    return DiagnosticsService(
        accounts=kwargs.pop("accounts", services.accounts),
        intake=lambda: services.intake,
        statuses=services.db.statuses,
        settings=services.db.settings,
        worker=services.worker,
        bus=services.bus,
        port_key=WEBHOOK_PORT_KEY,
        tunnel_key=TUNNEL_COMMAND_KEY,
        **kwargs,
    )


def with_network(tmp_path: Path, body: Callable[[Services], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        services = await open_services(DataPaths(tmp_path / "data"))
        try:
            await services.start_network()
            return await body(services)
        finally:
            await services.close()

    return asyncio.run(main())


async def sandbox_id(services: Services) -> int:
    (account,) = await services.accounts.list()
    assert account.id is not None
    return account.id


async def settle(services: Services) -> None:
    assert services.sandbox is not None
    assert await services.sandbox.settle(10)
    await services.intake.writer.flushed()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_check_all_shows_the_sandbox_account_healthy(tmp_path: Path) -> None:
    async def body(services: Services) -> None:
        service = diagnostics(services)
        account_id = await sandbox_id(services)
        before = await service.snapshot()
        (row,) = before.accounts
        assert (row.account_id, row.name, row.state) == (account_id, "Sandbox", "unknown")
        assert row.summary == "Not checked yet."

        reports = await service.check_all()
        assert reports[account_id].ok
        (row,) = (await service.snapshot()).accounts
        assert row.state == "ok"
        assert row.quality_rating == "GREEN"
        assert row.messaging_limit == "TIER_10K"
        assert row.checked_at is not None and row.what_to_do is None
        assert row.dialect is not None and row.dialect.value == "meta"

        services.bus.publish(AccountsChanged())  # an edited account: the old report goes
        (row,) = (await service.snapshot()).accounts
        assert row.state == "unknown"
        service.close()

    with_network(tmp_path, body)


class Accounts:
    """Accounts whose checks fail in every way a check can."""

    def __init__(self) -> None:
        self.accounts = [Account(AccountKind.META, f"Shop {i}", id=i) for i in range(1, 11)]
        self.running = 0
        self.most = 0

    async def list(self) -> list[Account]:
        return list(self.accounts)

    def problem(self, account_id: int) -> str | None:
        return "This Meta account is missing the access token." if account_id == 4 else None

    def providers(self) -> dict[int, Provider]:
        return {}

    async def test_connection(self, account_id: int) -> HealthReport:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(0.02)
            if account_id == 1:
                raise ValidationError("The account is incomplete.", what_to_do="Fill it in.")
            if account_id == 2:
                raise RuntimeError("boom")
            if account_id == 3:
                await asyncio.sleep(5)
            if account_id == 5:
                return HealthReport(
                    False,
                    f"Access token expired. {lookup('meta', '190').account_advice}",
                    {"error_code": "190"},
                )
            return HealthReport(True, "Ready.", {"quality_rating": "GREEN"})
        finally:
            self.running -= 1


def test_checks_never_raise_and_run_a_few_at_a_time(tmp_path: Path) -> None:
    async def main() -> None:
        services = await open_services(DataPaths(tmp_path / "data"))
        fake = Accounts()
        service = diagnostics(services, accounts=fake, check_timeout=0.3)
        try:
            reports = await service.check_all()
            assert len(reports) == 10 and fake.most <= 4
            assert reports[1] == HealthReport(
                False, "The account is incomplete.", {"what_to_do": "Fill it in."}
            )
            assert not reports[2].ok and "RuntimeError" in reports[2].summary
            assert not reports[3].ok and "did not answer" in reports[3].summary
            assert all(reports[i].ok for i in (6, 7, 8, 9, 10))
            health = {row.account_id: row for row in (await service.snapshot()).accounts}
            assert health[1].what_to_do == "Fill it in."
            assert health[4].state == "bad" and "access token" in health[4].summary
            assert health[5].error_code == "190"
            # The advice already in the summary is not repeated.
            assert health[5].what_to_do is None
        finally:
            service.close()
            await services.close()

    asyncio.run(main())


def test_receiver_counts_a_forged_webhook_and_the_sandbox_s_good_ones(tmp_path: Path) -> None:
    async def body(services: Services) -> None:
        assert services.sandbox is not None
        service = diagnostics(services)
        account_id = await sandbox_id(services)
        url = services.intake.url_for(account_id)
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                url,
                data=b'{"object": "whatsapp_business_account", "entry": []}',
                headers={"X-Hub-Signature-256": "sha256=" + "0" * 64},
            ) as response,
        ):
            assert response.status == 403

        services.sandbox.inbound(CUSTOMER, "Hello, is the shop open today?")
        await settle(services)
        provider = await services.accounts.provider(account_id)
        sent = await provider.send_text(CUSTOMER, "Yes, until 8 pm.", reference="r1")
        late = await provider.send_text(STRANGER, "Our sale starts now", reference="r2")
        assert sent.accepted and late.accepted
        await settle(services)

        snap = await service.snapshot()
        stats = snap.receiver.stats
        assert stats.forged == 1 and stats.accepted >= 3
        assert stats.last_rejected_at is not None and stats.last_accepted_at is not None
        assert snap.receiver.running and snap.receiver.local_only
        (urls,) = snap.receiver.urls
        assert urls.local == url and urls.public is None
        assert snap.receiver.recent[-1].outcome == "forged or unsigned"
        assert snap.tunnel.state == "off" and not snap.tunnel.configured
        assert snap.writer.running and snap.writer.dead_letters == ()
        assert snap.poller.running and snap.poller.polled_accounts == ()

        events = snap.events
        assert [e.at for e in events] == sorted((e.at for e in events), reverse=True)
        reply = next(e for e in events if e.kind == "reply")
        assert (reply.reference, reply.text, reply.account) == (
            CUSTOMER,
            "Hello, is the shop open today?",
            "Sandbox",
        )
        ours = {e.text for e in events if e.reference == sent.provider_message_id}
        assert {"sent", "delivered"} <= ours
        failed = next(e for e in events if e.reference == late.provider_message_id)
        assert (failed.text, failed.error_code) == ("failed", "131047")
        assert failed.recipient == STRANGER
        assert all(
            e.recipient == CUSTOMER for e in events if e.reference == sent.provider_message_id
        )
        assert failed.error_title == "Outside the 24-hour window"
        assert failed.error_what_to_do
        service.close()

    with_network(tmp_path, body)


def test_dead_letters_are_shown_and_retried(tmp_path: Path) -> None:
    async def body(services: Services) -> None:
        service = diagnostics(services)
        account_id = await sandbox_id(services)
        repository = services.db.statuses

        def refuse(batch: Any) -> Any:
            raise OSError("disk full")

        repository.apply = refuse  # type: ignore[method-assign]
        update = StatusUpdate("wamid.DEAD1", DeliveryStatus.DELIVERED, datetime.now(UTC))
        writer: StatusWriter = services.intake.writer
        writer.put(account_id, [update])
        await writer.flushed()
        snap = await service.snapshot()
        (letter,) = snap.writer.dead_letters
        assert letter.events == 1 and "disk full" in letter.error
        assert snap.writer.dead_letter_events == 1

        del repository.apply  # the disk has room again
        assert await service.retry_dead_letters() == 1
        await writer.flushed()
        snap = await service.snapshot()
        assert snap.writer.dead_letters == ()
        assert any(e.reference == "wamid.DEAD1" for e in snap.events)
        service.close()

    with_network(tmp_path, body)


def test_apply_webhook_settings_moves_the_receiver_and_keeps_receiving(tmp_path: Path) -> None:
    async def body(services: Services) -> None:
        assert services.sandbox is not None
        service = diagnostics(services)
        account_id = await sandbox_id(services)
        old = services.intake
        port = free_port()
        await services.apply_webhook_settings(port=port, tunnel_command="  ")
        assert services.intake is not old and not old.receiver.running
        snap = await service.snapshot()
        assert snap.receiver.port == port and snap.webhook_port == port
        assert snap.tunnel_command is None and snap.tunnel.state == "off"
        assert snap.receiver.urls[0].local == f"http://127.0.0.1:{port}/webhooks/{account_id}"

        services.sandbox.inbound(CUSTOMER, "still there?")
        await settle(services)
        snap = await service.snapshot()
        assert snap.receiver.stats.accepted == 1  # the new receiver got it
        assert snap.events[0].text == "still there?"

        # A port in use and an unreadable command change nothing.
        current = services.intake
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            taken = int(busy.getsockname()[1])
            with pytest.raises(ValidationError, match=f"Port {taken} cannot be used"):
                await services.apply_webhook_settings(port=taken, tunnel_command=None)
        assert services.intake is current and current.receiver.running
        assert current.receiver.port == port
        with pytest.raises(ValidationError, match="tunnel command"):
            await services.apply_webhook_settings(port=port, tunnel_command='cloudflared "')
        with pytest.raises(ValidationError, match="not a port"):
            await services.apply_webhook_settings(port=70000, tunnel_command=None)
        assert (await service.snapshot()).webhook_port == port
        service.close()

    with_network(tmp_path, body)


def test_tunnel_state_and_public_urls(tmp_path: Path) -> None:
    script = (
        "import sys, time; print('starting tunnel', flush=True); "
        "print('https://p' + sys.argv[1] + '.trycloudflare.com', flush=True); time.sleep(60)"
    )
    command = shlex.join([sys.executable, "-c", script, "{port}"])

    async def body(services: Services) -> None:
        service = diagnostics(services)
        account_id = await sandbox_id(services)
        await services.apply_webhook_settings(port=0, tunnel_command=command)
        tunnel = services.intake.tunnel
        assert tunnel is not None
        await until(lambda: tunnel.public_url is not None)
        snap = await service.snapshot()
        public = f"https://p{snap.receiver.port}.trycloudflare.com"
        assert snap.tunnel.state == "running" and snap.tunnel.public_url == public
        assert snap.tunnel.command == command and snap.tunnel_command == command
        assert "starting tunnel" in snap.tunnel.last_lines
        assert snap.tunnel.running_command is not None
        assert str(snap.receiver.port) in snap.tunnel.running_command
        assert snap.receiver.urls[0].public == f"{public}/webhooks/{account_id}"
        service.close()

    with_network(tmp_path, body)


def test_a_refused_apply_on_an_any_port_receiver_keeps_the_sandbox_reaching_it(
    tmp_path: Path,
) -> None:
    async def body(services: Services) -> None:
        assert services.sandbox is not None
        service = diagnostics(services)
        current = services.intake
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            with pytest.raises(ValidationError):
                await services.apply_webhook_settings(
                    port=int(busy.getsockname()[1]), tunnel_command=None
                )
        assert services.intake is current and current.receiver.running
        services.sandbox.inbound(CUSTOMER, "hello again")  # to the restarted receiver
        await settle(services)
        snap = await service.snapshot()
        assert snap.receiver.stats.accepted == 1 and snap.webhook_port == 0
        assert snap.events[0].text == "hello again"
        service.close()

    with_network(tmp_path, body)
