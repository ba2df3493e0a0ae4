"""Meta's ``user_preferences`` webhook through the real receiver, writer and store: a
marketing "stop" opts the contact out with a reason; a "resume" never opts them back in."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from waapp.core.entities import AccountKind, Contact
from waapp.core.ports import Provider
from waapp.providers.meta import MetaProvider
from waapp.services.events import ContactsChanged, InboundReceived
from waapp.services.status.writer import MARKETING_OPT_OUT_REASON
from waapp.store.database import Database

from .fakes import meta_signed
from .harness import Intake, add_account, open_intake, run

META = 1
STOP_AT = 1_746_090_000


def preferences(*items: tuple[str, str, int]) -> dict[str, Any]:
    """A signed-ready ``user_preferences`` webhook: (wa_id, "stop" | "resume", time)."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA1",
                "changes": [
                    {
                        "field": "user_preferences",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": "106540352242922",
                            },
                            "contacts": [
                                {"wa_id": wa_id, "profile": {"name": "Sheena"}}
                                for wa_id, _, _ in items
                            ],
                            "user_preferences": [
                                {
                                    "wa_id": wa_id,
                                    "detail": f"User requested to {value} marketing messages",
                                    "category": "marketing_messages",
                                    "value": value,
                                    "timestamp": at,
                                }
                                for wa_id, value, at in items
                            ],
                        },
                    }
                ],
            }
        ],
    }


async def deliver(intake: Intake, *items: tuple[str, str, int]) -> None:
    body, headers = meta_signed(preferences(*items))
    assert (await intake.post(intake.url(META), body, headers))[0] == 200
    await intake.writer.flushed()


def test_a_marketing_stop_opts_out_and_a_resume_leaves_the_contact_opted_out(
    db_path: Path,
) -> None:
    async def main() -> None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(500)))
        real_meta = MetaProvider(
            client=client,
            phone_number_id="106540352242922",
            access_token="EAAG-token",
            app_secret="meta-app-secret",  # what fakes.meta_signed signs with
        )

        def one_account(db: Database) -> dict[int, Provider]:
            assert add_account(db, AccountKind.META, "Meta") == META
            return {META: real_meta}

        async with open_intake(db_path, one_account) as intake:
            add = intake.db.contacts.add
            ana = await intake.worker.run(add, Contact(phone_e164="+16505551234", name="Ana"))
            # Matched by wa_id: the provider's id, not the number the list holds.
            bob = await intake.worker.run(
                add, Contact(phone_e164="+14155550100", name="Bob", wa_id="447700900456")
            )
            first = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
            cy = await intake.worker.run(
                add,
                Contact(
                    phone_e164="+34600111222",
                    name="Cy",
                    opted_out_at=first,
                    opt_out_reason='Replied "BAJA" on WhatsApp',
                ),
            )

            await deliver(
                intake,
                ("16505551234", "stop", STOP_AT),
                ("447700900456", "stop", STOP_AT),
                ("34600111222", "stop", STOP_AT),
                ("447700900123", "stop", STOP_AT),  # nobody we know: nothing to do
            )
            get = intake.db.contacts.get
            stored_ana = await intake.worker.run(get, ana.id or 0)
            stored_bob = await intake.worker.run(get, bob.id or 0)
            stored_cy = await intake.worker.run(get, cy.id or 0)
            for stopped in (stored_ana, stored_bob):
                assert stopped.opt_out_reason == MARKETING_OPT_OUT_REASON
                assert stopped.opted_out_at == datetime.fromtimestamp(STOP_AT, UTC)
                assert stopped.last_inbound_at is None  # a preference is not a message
            # Already opted out: the first date and reason are kept.
            assert (stored_cy.opted_out_at, stored_cy.opt_out_reason) == (
                first,
                'Replied "BAJA" on WhatsApp',
            )
            # Published as a keyword opt-out is.
            inbound = [e for e in intake.published if isinstance(e, InboundReceived)]
            assert [(e.count, e.opted_out_ids) for e in inbound] == [
                (0, tuple(sorted((ana.id or 0, bob.id or 0))))
            ]
            changed = {i for e in intake.published if isinstance(e, ContactsChanged) for i in e.ids}
            assert changed == {ana.id, bob.id}
            assert await intake.worker.run(intake.statuses.recent_inbound) == []

            # "resume": the business decides; the contact stays opted out, nothing recorded.
            intake.published.clear()
            await deliver(intake, ("16505551234", "resume", STOP_AT + 60))
            assert await intake.worker.run(get, ana.id or 0) == stored_ana
            assert intake.published == []
            assert intake.writer.dead_letters == []

        await client.aclose()

    run(main())
