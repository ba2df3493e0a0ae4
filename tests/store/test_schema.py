"""How datetimes are stored: aware UTC in and out, in an order-preserving text form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from waapp.core.entities import Contact
from waapp.store.database import Database
from waapp.store.schema import UTCDateTime, contacts, format_utc, parse_utc

IST = timezone(timedelta(hours=5, minutes=30))


def test_format_is_fixed_width_utc_text() -> None:
    assert format_utc(datetime(2024, 5, 1, 15, 0, tzinfo=IST)) == "2024-05-01T09:30:00.000000Z"
    assert len(format_utc(datetime(5, 1, 1, tzinfo=UTC))) == 27


def test_text_order_is_time_order() -> None:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    moments = [base + timedelta(microseconds=n * 999_999_937) for n in range(-50, 50)]
    moments += [datetime(1999, 12, 31, 23, 59, 59, tzinfo=IST), datetime(2100, 1, 1, tzinfo=UTC)]
    assert sorted(moments, key=format_utc) == sorted(moments)


def test_parse_inverts_format() -> None:
    moment = datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=IST)
    back = parse_utc(format_utc(moment))
    assert back == moment
    assert back.tzinfo is UTC


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_utc(datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2024, 1, 1), dialect=None)  # type: ignore[arg-type]  # the dialect is unused


def test_round_trip_through_the_file_is_aware_utc(db: Database) -> None:
    inbound = datetime(2024, 3, 10, 8, 15, 1, 500, tzinfo=IST)
    stored = db.contacts.add(Contact(phone_e164="+917033009600", last_inbound_at=inbound))
    assert stored.id is not None

    again = db.contacts.get(stored.id)
    assert again.last_inbound_at == inbound
    assert again.last_inbound_at is not None and again.last_inbound_at.tzinfo is UTC
    assert again.created_at is not None and again.created_at.tzinfo is UTC

    with db.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT last_inbound_at FROM contacts").scalar_one()
        assert raw == "2024-03-10T02:45:01.000500Z"
        # Comparisons in SQL bind through the same type.
        column = contacts.c.last_inbound_at
        assert conn.execute(select(contacts.c.id).where(column == inbound)).scalars().all() == [
            stored.id
        ]
        assert conn.execute(select(contacts.c.id).where(column > inbound)).all() == []


def test_naive_datetimes_are_refused_by_the_repository(db: Database) -> None:
    with pytest.raises(ValueError, match="naive"):
        db.contacts.add(Contact(phone_e164="+15550000001", last_inbound_at=datetime(2024, 1, 1)))
    with pytest.raises(ValueError, match="naive"):
        db.contacts.add_many(
            [Contact(phone_e164="+15550000002", opted_out_at=datetime(2024, 1, 1))]
        )
    assert db.contacts.find_by_phone("+15550000001") is None
    assert db.contacts.find_by_phone("+15550000002") is None
