"""StatusIntake: writer, receiver, poller and tunnel started and stopped together."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

import aiohttp

from waapp.core.entities import AccountKind
from waapp.core.ports import Provider
from waapp.services.events import EventBus, TunnelStateChanged
from waapp.services.status import StatusIntake, TunnelState
from waapp.store.database import open_database
from waapp.store.statuses import StatusRepository
from waapp.store.worker import DatabaseWorker

from .fakes import FakeTwilio, twilio_signed, twilio_status_params
from .harness import add_account, add_campaign, run, states
from .test_tunnel import until


def test_intake_serves_through_the_tunnel_url_and_drains_on_stop(db_path: Path) -> None:
    tunnel = [
        sys.executable,
        "-c",
        "import sys, time; print('https://p' + sys.argv[1] + '.trycloudflare.com', flush=True);"
        " time.sleep(60)",
        "{port}",
    ]

    async def main() -> None:
        worker = DatabaseWorker()
        db = await worker.run(open_database, db_path)
        account = add_account(db, AccountKind.TWILIO, "Twilio")
        add_campaign(db, account, [("sent", "SM1")])
        providers: dict[int, Provider] = {account: FakeTwilio()}
        bus = EventBus()
        changes: list[TunnelStateChanged] = []
        bus.subscribe(TunnelStateChanged, changes.append)
        intake = StatusIntake(
            statuses=StatusRepository(db.engine),
            settings=db.settings,
            worker=worker,
            bus=bus,
            providers=lambda: providers,
            tunnel_command=tunnel,
            poll_interval=3600,
            poll_min_age=timedelta(seconds=5),
        )
        await intake.start()
        assert intake.tunnel is not None
        await until(
            lambda: intake.tunnel is not None and intake.tunnel.state is TunnelState.RUNNING
        )
        port = intake.receiver.port
        public = f"https://p{port}.trycloudflare.com"
        assert intake.public_url() == public
        assert intake.url_for(account) == f"{public}/webhooks/{account}"
        assert changes[-1] == TunnelStateChanged("running", public)

        body, headers = twilio_signed(intake.url_for(account), twilio_status_params("SM1", "read"))
        async with aiohttp.ClientSession() as session:
            local = f"{intake.receiver.local_base}/webhooks/{account}"
            async with session.post(local, data=body, headers=headers) as response:
                assert response.status == 200
        await intake.stop()  # drains the writer: the update is in the store now
        assert states(db, 1) == {"SM1": "read"}
        assert changes[-1] == TunnelStateChanged("stopped", None)
        assert not intake.receiver.running and not intake.poller.running
        await asyncio.sleep(0)
        await worker.run(db.close)
        worker.shutdown()

    run(main())
