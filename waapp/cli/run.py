"""``waapp run``: the engine, scheduler, receiver and poller without a window."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from waapp.cli.common import (
    CommandError,
    clock,
    counts_text,
    fail,
    say,
)
from waapp.paths import DataPaths


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    running = commands.add_parser(
        "run",
        help="send campaigns without the window, until Ctrl+C (for a computer that stays on)",
        description="Run what the open window runs, without a window: the campaign engine "
        "(every campaign that is sending, and those started later with `waapp campaign send` "
        "or `resume`), the scheduler (scheduled campaigns start on time), the webhook "
        "receiver for delivery reports (and the tunnel, when one is set up) and the status "
        "poller. Prints what it runs, then one line per campaign status change. Ctrl+C or "
        "SIGTERM stops it cleanly: the requests in flight are finished and written, and "
        "campaigns still sending carry on at the next start. Exit code 0.",
        epilog="Run it in the background, for example: nohup waapp run >> waapp-run.log &",
    )
    running.set_defaults(handler=cmd_run)


class _Runner:
    """``waapp run``: the services started, what runs printed, campaign changes followed."""

    def __init__(self, services: Any) -> None:
        self.services = services
        self.known: dict[int, Any] = {}  # campaign id → status last printed
        self._checks: dict[int, Any] = {}  # campaign id → its pending check task
        self._unsubscribe: list[Callable[[], None]] = []
        self._ready: Any = None  # asyncio.Event: set once the setup is printed

    async def start(self) -> None:
        """The statuses and the subscriptions first, then the network: a change made while
        the engine starts (a campaign left sending that completes at once) is printed —
        after the setup lines, from the status it had before."""
        import asyncio

        from waapp.services.events import CampaignChanged, TunnelStateChanged

        services = self.services
        self._ready = asyncio.Event()
        repo = services.campaigns.repo
        for campaign in await services.worker.run(repo.list):
            self.known[campaign.id] = campaign.status
        bus = services.bus
        self._unsubscribe.append(
            bus.subscribe(CampaignChanged, lambda event: self._changed(event.campaign_id))
        )
        await services.start_network(owner="waapp run")
        # The tunnel as it is now is in the setup lines; its changes from here on.
        self._unsubscribe.append(bus.subscribe(TunnelStateChanged, self._tunnel))
        await self._print_setup()
        self._ready.set()

    async def _print_setup(self) -> None:
        from waapp.core.errors import WaappError
        from waapp.core.states import CampaignStatus
        from waapp.services.accounts import IN_PROCESS, kind_label

        services = self.services
        intake = services.intake
        receiver = intake.receiver
        say(f"waapp run: sending without the window (data in {services.paths.root}).")
        say("Accounts:")
        for account in await services.accounts.list():
            label = f"  {account.name} — {kind_label(account.kind)}"
            try:
                provider = await services.accounts.provider(account.id)
            except WaappError as error:
                say(f"{label}: cannot send — {error.message}")
                continue
            if account.settings.get(IN_PROCESS):
                where = "reports delivered inside waapp"
            else:
                where = f"delivery reports to {intake.url_for(account.id)}"
            polled = "; polled for statuses" if provider.supports_polling else ""
            say(f"{label}: {where}{polled}")
        say(f"Webhook receiver: {receiver.local_base} (on this computer only)")
        tunnel = intake.tunnel
        if tunnel is not None:
            status = tunnel.status()
            public = status.public_url or "not known yet (printed when it is)"
            say(f"Tunnel: {status.state.value}, public address {public}")
        else:
            say(
                "Tunnel: none set up — providers on the internet cannot reach the receiver; "
                "statuses come from polling where the provider allows it"
            )
        campaigns = await services.campaigns.list()
        sending = [c for c in campaigns if c.status is CampaignStatus.SENDING]
        scheduled = [c for c in campaigns if c.status is CampaignStatus.SCHEDULED]
        say(f"Campaigns sending: {len(sending)}")
        for campaign in sending:
            counts = counts_text(campaign.counters)
            say(f"  {campaign.id} “{campaign.name}”" + (f" ({counts})" if counts else ""))
        say(f"Campaigns scheduled: {len(scheduled)}")
        for campaign in scheduled:
            at = campaign.scheduled_at
            when = at.astimezone().strftime("%Y-%m-%d %H:%M") if at else "no time set"
            say(f"  {campaign.id} “{campaign.name}” at {when}")
        say("Ready. Stop with Ctrl+C; campaigns still sending go on at the next start.")

    def _tunnel(self, event: Any) -> None:
        if event.public_url:
            say(f"{clock()}  Tunnel: public address {event.public_url}")
        else:
            say(f"{clock()}  Tunnel: {event.state}")

    def _changed(self, campaign_id: int) -> None:
        import asyncio

        if campaign_id in self._checks:
            return  # one check reads the latest state for a burst of changes
        task = asyncio.get_running_loop().create_task(self._check(campaign_id))
        self._checks[campaign_id] = task

    async def _check(self, campaign_id: int) -> None:
        import asyncio

        from waapp.core.errors import WaappError

        try:
            await self._ready.wait()  # the setup lines first
            await asyncio.sleep(0.05)
            del self._checks[campaign_id]
            try:
                report = await self.services.campaigns.show(campaign_id)
            except WaappError:  # deleted meanwhile
                return
            self._print_change(report)
        except asyncio.CancelledError:
            raise
        except Exception:  # a line not printed must not stop the sending
            import logging

            logging.getLogger("waapp").exception("waapp run: campaign %s not shown", campaign_id)

    def _print_change(self, report: Any) -> None:
        from waapp.core.states import CampaignStatus

        campaign = report.campaign
        before = self.known.get(campaign.id)
        if before is campaign.status:
            return
        self.known[campaign.id] = campaign.status
        came = f"{before.value} → " if before is not None else ""
        counts = counts_text(report.to_json()["counts"])
        line = f"{clock()}  Campaign {campaign.id} “{campaign.name}”: {came}{campaign.status.value}"
        if counts:
            line += f" ({counts})"
        why = report.timeline[-1].detail if report.timeline else ""
        if why and campaign.status in (CampaignStatus.PAUSED, CampaignStatus.FAILED):
            line += f" — {why}"
        say(line)

    async def stop(self) -> None:
        import asyncio

        for unsubscribe in self._unsubscribe:
            unsubscribe()
        tasks = list(self._checks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def cmd_run(args: argparse.Namespace, paths: DataPaths) -> int:
    import asyncio
    import signal

    from waapp.app import open_services, setup_logging
    from waapp.core.errors import WaappError

    setup_logging(paths)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        signals = [signal.SIGINT, signal.SIGTERM]
        installed: list[signal.Signals] = []
        previous: dict[signal.Signals, Any] = {}
        for signum in signals:
            try:
                loop.add_signal_handler(signum, stop.set)
                installed.append(signum)
            except (NotImplementedError, RuntimeError):  # Windows: no loop signal handlers
                previous[signum] = signal.signal(
                    signum, lambda *_: loop.call_soon_threadsafe(stop.set)
                )
        services = await open_services(paths)
        runner = _Runner(services)
        try:
            await runner.start()
            await stop.wait()
            say(f"{clock()}  Stopping: finishing the requests in flight…")
        finally:
            await runner.stop()
            await services.close()
            for signum in installed:
                loop.remove_signal_handler(signum)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        say(f"{clock()}  Stopped. Campaigns still sending go on at the next start.")
        return 0

    try:
        return asyncio.run(main())
    except (WaappError, CommandError) as error:
        return fail(error)
