"""The composition root's wiring: the first-run Sandbox account, and Twilio's status
callback pointing at our webhook receiver (public once a tunnel runs)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from waapp.app import open_services
from waapp.core.entities import AccountKind
from waapp.paths import DataPaths
from waapp.providers.twilio import TwilioProvider
from waapp.services.events import TunnelStateChanged


def test_first_run_sandbox_account_and_twilio_status_callback(tmp_path: Path) -> None:
    async def main() -> None:
        services = await open_services(DataPaths(tmp_path))
        try:
            await services.start_network()
            [sandbox_account] = await services.accounts.list()
            assert sandbox_account.kind is AccountKind.SANDBOX
            assert (await services.accounts.test_connection(sandbox_account.id)).ok

            own = await services.accounts.add(
                kind=AccountKind.TWILIO,
                name="Own callback",
                settings={
                    "account_sid": "AC" + "1" * 32,
                    "sender": "+14155238886",
                    "status_callback": "https://example.org/hook",
                },
                secrets={"auth_token": "t1"},
            )
            ours = await services.accounts.add(
                kind=AccountKind.TWILIO,
                name="Shop",
                settings={"account_sid": "AC" + "2" * 32, "sender": "+14155238886"},
                secrets={"auth_token": "t2"},
            )
            services.bus.publish(TunnelStateChanged("running", None))
            providers = services.accounts.providers()
            assert isinstance(providers[ours.id], TwilioProvider)
            assert providers[ours.id].status_callback == services.intake.url_for(ours.id)
            assert providers[own.id].status_callback == "https://example.org/hook"
        finally:
            await services.close()

    asyncio.run(main())
