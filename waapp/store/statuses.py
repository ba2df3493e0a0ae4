"""Status intake's store: :class:`StatusRepository` applies batches of provider events.

One call of :meth:`StatusRepository.apply` is one transaction that

1. records every status update in ``status_events`` (``INSERT OR IGNORE``: the same update
   delivered twice — webhook retry, webhook + poll — is one row);
2. finds each update's message by provider message id — the one of the send, or the
   provider's second id of the message (``messages.provider_key_id``: WaSender's webhooks
   name the WhatsApp ``key.id``, not the send's ``msgId``) — or by our own message id when
   the provider echoed it back (``StatusUpdate.reference``, Meta's
   ``biz_opaque_callback_data``) and the row has no provider id yet (the send result was
   lost: the row gets the id); only messages of campaigns of the event's own account are
   ever matched. An update that names both ids (``StatusUpdate.key_id``: WaSender's message
   info, polled) teaches the row its second id, and the updates recorded earlier under that
   id — webhooks that came before anyone knew whose they were — are merged now;
3. merges the update with :func:`waapp.core.states.merge_status` — forward only; stale,
   duplicate and inapplicable updates change nothing; a late ``failed`` after ``sent`` is
   kept with its code, title and detail — and dates each step of the delivery chain with
   the earliest time the provider reported it or a later step (see ``_merge``);
4. moves each affected campaign's ``counters`` (message state → count; states without
   messages are absent) by the net change of its rows. If the stored counters cannot take
   the delta (they were never initialised, or are damaged: a count would go negative) the
   campaign's counters are recounted from its rows instead;
5. records inbound messages in ``inbound_messages`` (deduplicated per account and provider
   id) and, for each new one, moves the contact's ``last_inbound_at`` forward (never back)
   and opts the contact out when the intake marked the text as an opt-out
   (``IncomingEvent.opt_out_reason``); a contact already opted out keeps its first date
   and reason;
6. applies marketing preferences (Meta's ``user_preferences``) through the same opt-out
   path as step 5, without an inbound row and without touching ``last_inbound_at``: a
   "stop" the intake marked with a reason opts the contact out (first date kept). A
   "resume" changes nothing: opting back in is the business's decision, not automatic.

Updates for message ids nobody knows are recorded and counted as ``unmatched``, never an
error. Events of an account that no longer exists are counted as ``orphaned`` and dropped
(their rows would violate the foreign key and fail the whole batch).

Hot path: the statements are driver-level ``executemany`` with values converted up front
(the Core per-parameter processing costs as much as the inserts themselves), and message
lookups go by ``IN`` batches of :data:`~waapp.store.engine.IN_BATCH`.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Row, select
from sqlalchemy.engine import Connection, Engine

from waapp.core.entities import InboundMessage, Message, Route, StatusEvent
from waapp.core.ports import (
    InboundText,
    MarketingPreference,
    ProviderError,
    StatusUpdate,
    WebhookEvent,
)
from waapp.core.states import DeliveryStatus, MessageState, merge_status
from waapp.store.engine import batched, json_text, placeholders, writer
from waapp.store.schema import (
    campaigns,
    format_utc,
    inbound_messages,
    messages,
    parse_utc,
    require_utc,
    status_events,
)

__all__ = [
    "IN_FLIGHT_STATES",
    "ApplySummary",
    "IncomingEvent",
    "StatusRepository",
    "message_from_row",
]

#: The states the poller asks the provider about: the request left (or may have left), and
#: a final word (delivered, read, failed) has not come yet.
IN_FLIGHT_STATES = (MessageState.SENDING, MessageState.SENT, MessageState.UNKNOWN)

_M = MessageState
#: The timestamp column each state sets.
_STATE_COLUMN = {
    _M.SENT: "sent_at",
    _M.DELIVERED: "delivered_at",
    _M.READ: "read_at",
    _M.FAILED: "failed_at",
}
#: The delivery chain: reaching a state implies the earlier ones.
_CHAIN = (_M.SENT, _M.DELIVERED, _M.READ)


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """One parsed provider event, as the intake queues it for :meth:`StatusRepository.apply`."""

    account_id: int
    event: WebhookEvent
    received_at: datetime  # when waapp received it (aware UTC)
    source: str = "webhook"  # or "poll"
    #: Inbound and marketing preferences only: the contact's opt-out reason when the intake
    #: found the text to be an opt-out keyword (``Replied "STOP" on WhatsApp``) or the
    #: preference to be a "stop" of marketing messages, else None.
    opt_out_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ApplySummary:
    """What one :meth:`StatusRepository.apply` did."""

    statuses: int = 0  # status updates in the batch
    recorded: int = 0  # new status_events rows (the others were already recorded)
    applied: int = 0  # updates that moved a message forward
    ignored: int = 0  # matched, but stale, duplicate or not applicable
    unmatched: int = 0  # no message of that account has this id
    orphaned: int = 0  # events of an account that no longer exists (dropped)
    inbound: int = 0  # new inbound messages
    inbound_duplicates: int = 0
    preferences: int = 0  # marketing preference changes (stop / resume) in the batch
    campaign_ids: tuple[int, ...] = ()  # campaigns whose messages changed
    message_ids: tuple[int, ...] = ()  # messages that changed
    contact_ids: tuple[int, ...] = ()  # contacts whose last_inbound_at or opt-out changed
    opted_out_ids: tuple[int, ...] = ()  # contacts opted out by this batch
    #: Events that cannot be stored as given (a naive time, an empty id, an unknown
    #: status): left out of the transaction and handed back to the caller.
    invalid: tuple[IncomingEvent, ...] = ()


@dataclass(slots=True)
class _Ledger:
    """One message row as read for merging, then modified in memory. Times are stored text."""

    id: int
    campaign_id: int
    account_id: int
    state: MessageState
    provider_message_id: str | None
    times: dict[str, str | None]
    error_code: str | None
    error_title: str | None
    error_detail: str | None
    provider_key_id: str | None = None
    original_state: MessageState = field(init=False)
    dirty: bool = False

    def __post_init__(self) -> None:
        self.original_state = self.state


_LEDGER_COLUMNS = (
    "m.id, m.campaign_id, c.account_id, m.state, m.provider_message_id, "
    "m.sent_at, m.delivered_at, m.read_at, m.failed_at, m.error_code, m.error_title, "
    "m.error_detail, m.provider_key_id"
)
_LEDGER_FROM = f"FROM {messages.name} m JOIN {campaigns.name} c ON c.id = m.campaign_id"


def _ledger(row: Sequence[Any]) -> _Ledger:
    return _Ledger(
        id=row[0],
        campaign_id=row[1],
        account_id=row[2],
        state=MessageState(row[3]),
        provider_message_id=row[4],
        times={"sent_at": row[5], "delivered_at": row[6], "read_at": row[7], "failed_at": row[8]},
        error_code=row[9],
        error_title=row[10],
        error_detail=row[11],
        provider_key_id=row[12],
    )


_INSERT_STATUS_EVENT = (
    f"INSERT OR IGNORE INTO {status_events.name} (account_id, provider_message_id, status, "
    "occurred_at, received_at, source, error_code, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_MESSAGE = (
    f"UPDATE {messages.name} SET state = ?, provider_message_id = ?, sent_at = ?, "
    "delivered_at = ?, read_at = ?, failed_at = ?, error_code = ?, error_title = ?, "
    "error_detail = ?, provider_key_id = ?, updated_at = ? WHERE id = ?"
)
_INSERT_INBOUND = (
    f"INSERT OR IGNORE INTO {inbound_messages.name} (account_id, contact_id, from_phone, body, "
    "received_at, provider_message_id) VALUES (?, ?, ?, ?, ?, ?) RETURNING id"
)
_UPDATE_CONTACT = (
    "UPDATE contacts SET last_inbound_at = ?, opted_out_at = ?, opt_out_reason = ?, "
    "updated_at = ? WHERE id = ?"
)


def _aware(value: object) -> bool:
    return isinstance(value, datetime) and value.utcoffset() is not None


def _valid(incoming: IncomingEvent) -> bool:
    """Whether the event can be stored as given (types from a provider module are trusted
    only this far: one bad event must not fail the batch it travels in)."""
    event = incoming.event
    if not isinstance(incoming.account_id, int) or not _aware(incoming.received_at):
        return False
    if isinstance(event, StatusUpdate):
        return (
            isinstance(event.provider_message_id, str)
            and bool(event.provider_message_id)
            and isinstance(event.status, DeliveryStatus)
            and _aware(event.occurred_at)
        )
    if isinstance(event, InboundText):
        return (
            isinstance(event.from_phone, str)
            and bool(event.from_phone)
            and isinstance(event.body, str)
            and _aware(event.received_at)
            and (event.provider_message_id is None or isinstance(event.provider_message_id, str))
        )
    if isinstance(event, MarketingPreference):
        return (
            isinstance(event.phone, str)
            and bool(event.phone)
            and isinstance(event.opted_out, bool)
            and _aware(event.occurred_at)
        )
    return False


#: The store's JSON form (``engine.json_text``), with the encoder built once: a new encoder
#: per call cost as much as the status insert itself.
_compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _raw(update: StatusUpdate) -> str:
    """What the parsed update says beyond the indexed columns, as compact JSON ("" if nothing).

    The raw request is not stored: a Meta request holds up to ~50 statuses, and storing it
    per status would multiply the file by as much.
    """
    extra: dict[str, Any] = {}
    if update.recipient:
        extra["recipient"] = update.recipient
    if update.reference:
        extra["reference"] = update.reference
    if update.key_id:
        extra["key_id"] = update.key_id
    if update.error is not None:
        extra["error"] = {
            key: value
            for key, value in (
                ("code", update.error.code),
                ("title", update.error.title),
                ("detail", update.error.detail),
            )
            if value
        }
    return _compact_json(extra) if extra else ""


def _now() -> datetime:
    return datetime.now(UTC)


class StatusRepository:
    """Status updates and inbound messages into the ledger. Call on the database worker."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _now) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._clock = clock

    # --- the batch ---------------------------------------------------------------------

    def apply(self, batch: Sequence[IncomingEvent]) -> ApplySummary:
        """Apply ``batch`` in one transaction (see the module doc). All or nothing: an
        exception rolls the whole batch back."""
        now = format_utc(self._clock())
        with self._writer.begin() as conn:
            known = self._existing_accounts(conn, {event.account_id for event in batch})
            statuses: list[IncomingEvent] = []
            inbound: list[IncomingEvent] = []
            invalid: list[IncomingEvent] = []
            orphaned = 0
            for incoming in batch:
                if not _valid(incoming):
                    invalid.append(incoming)
                elif incoming.account_id not in known:
                    orphaned += 1
                elif isinstance(incoming.event, StatusUpdate):
                    statuses.append(incoming)
                else:  # inbound texts and marketing preferences: the contact's side
                    inbound.append(incoming)
            status_part = self._apply_statuses(conn, statuses, now) if statuses else {}
            inbound_part = self._apply_inbound(conn, inbound, now) if inbound else {}
        return ApplySummary(
            statuses=len(statuses),
            orphaned=orphaned,
            invalid=tuple(invalid),
            **status_part,
            **inbound_part,
        )

    @staticmethod
    def _existing_accounts(conn: Connection, ids: set[int]) -> set[int]:
        if not ids:
            return set()
        ordered = sorted(ids)
        found: set[int] = set()
        for chunk in batched(ordered):
            sql = f"SELECT id FROM accounts WHERE id IN ({placeholders(len(chunk))})"
            found.update(row[0] for row in conn.exec_driver_sql(sql, tuple(chunk)))
        return found

    # --- statuses ----------------------------------------------------------------------

    def _apply_statuses(
        self, conn: Connection, batch: list[IncomingEvent], now: str
    ) -> dict[str, Any]:
        # Many events of a batch share a time (providers date in whole seconds; one request
        # is received at one instant): each distinct time is formatted once.
        stored_time: dict[datetime, str] = {}

        def text(value: datetime) -> str:
            found = stored_time.get(value)
            if found is None:
                found = stored_time[value] = format_utc(value)
            return found

        updates: list[tuple[int, StatusUpdate, str]] = []
        rows: list[tuple[Any, ...]] = []
        for incoming in batch:
            update = incoming.event
            assert isinstance(update, StatusUpdate)
            occurred = text(update.occurred_at)
            updates.append((incoming.account_id, update, occurred))
            rows.append(
                (
                    incoming.account_id,
                    update.provider_message_id,
                    update.status.value,
                    occurred,
                    text(incoming.received_at),
                    incoming.source,
                    None if update.error is None else update.error.code,
                    _raw(update),
                )
            )
        recorded = conn.exec_driver_sql(_INSERT_STATUS_EVENT, rows).rowcount

        ledgers = self._match(conn, updates)
        learned = self._learn_key_ids(ledgers, updates)
        # Recorded earlier under a second id learnt just now: merged with the batch (a
        # repeat of an update of this batch is left out, as its row was not recorded twice).
        in_batch = {(a, u.provider_message_id, u.status.value, o) for a, u, o in updates}
        earlier = [
            (account_id, update, occurred, False)
            for account_id, update, occurred in self._recorded_under(conn, learned)
            if (account_id, update.provider_message_id, update.status.value, occurred)
            not in in_batch
        ]
        applied = ignored = unmatched = 0
        # Oldest first (the stored text sorts as time does): within a batch the provider's
        # own order wins over arrival order. Earlier updates count only when they apply.
        for account_id, update, occurred, new in sorted(
            [(a, u, o, True) for a, u, o in updates] + earlier, key=lambda u: u[2]
        ):
            ledger = ledgers.get((account_id, update.provider_message_id))
            if ledger is None:
                unmatched += 1 if new else 0
            elif self._merge(ledger, update, occurred):
                applied += 1
            elif new:
                ignored += 1

        # A ledger found under both of its ids is one row.
        changed = list({ledger.id: ledger for ledger in ledgers.values() if ledger.dirty}.values())
        if changed:
            conn.exec_driver_sql(
                _UPDATE_MESSAGE,
                [
                    (
                        ledger.state.value,
                        ledger.provider_message_id,
                        ledger.times["sent_at"],
                        ledger.times["delivered_at"],
                        ledger.times["read_at"],
                        ledger.times["failed_at"],
                        ledger.error_code,
                        ledger.error_title,
                        ledger.error_detail,
                        ledger.provider_key_id,
                        now,
                        ledger.id,
                    )
                    for ledger in changed
                ],
            )
        moved = [ledger for ledger in changed if ledger.state != ledger.original_state]
        self._move_counters(conn, moved)
        return {
            "recorded": max(recorded, 0),
            "applied": applied,
            "ignored": ignored,
            "unmatched": unmatched,
            "campaign_ids": tuple(sorted({ledger.campaign_id for ledger in moved})),
            "message_ids": tuple(sorted(ledger.id for ledger in changed)),
        }

    @staticmethod
    def _match(
        conn: Connection, updates: list[tuple[int, StatusUpdate, str]]
    ) -> dict[tuple[int, str], _Ledger]:
        """(account id, provider message id) → the message row it is about; the id is the
        row's ``provider_message_id`` or its ``provider_key_id``."""
        found: dict[tuple[int, str], _Ledger] = {}
        provider_ids = sorted({update.provider_message_id for _, update, _ in updates})
        for chunk in batched(provider_ids):
            wanted = set(chunk)
            marks = placeholders(len(chunk))
            sql = (
                f"SELECT {_LEDGER_COLUMNS} {_LEDGER_FROM} "
                f"WHERE m.provider_message_id IN ({marks}) OR m.provider_key_id IN ({marks})"
            )
            for row in conn.exec_driver_sql(sql, tuple(chunk) * 2):
                ledger = _ledger(row)
                for provider_id in (ledger.provider_message_id, ledger.provider_key_id):
                    if provider_id in wanted:
                        assert provider_id is not None
                        # The first row found keeps an id (as the send's id always did).
                        found.setdefault((ledger.account_id, provider_id), ledger)

        # Not found by provider id: our own id, when the provider echoed it back.
        by_reference: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for account_id, update, _ in updates:
            key = (account_id, update.provider_message_id)
            reference = (update.reference or "").strip()
            if key not in found and reference.isdecimal() and reference.isascii():
                by_reference[int(reference)].append(key)
        for ids in batched(sorted(by_reference)):
            sql = (
                f"SELECT {_LEDGER_COLUMNS} {_LEDGER_FROM} WHERE m.id IN ({placeholders(len(ids))})"
            )
            for row in conn.exec_driver_sql(sql, tuple(ids)):
                ledger = _ledger(row)
                for account_id, provider_id in by_reference[ledger.id]:
                    if account_id != ledger.account_id or (account_id, provider_id) in found:
                        continue
                    if ledger.provider_message_id is None:
                        ledger.provider_message_id = provider_id
                        ledger.dirty = True
                    if ledger.provider_message_id == provider_id:
                        found[(account_id, provider_id)] = ledger
        return found

    @staticmethod
    def _learn_key_ids(
        ledgers: dict[tuple[int, str], _Ledger], updates: list[tuple[int, StatusUpdate, str]]
    ) -> set[tuple[int, str]]:
        """Give each matched row without a second id the ``key_id`` its update names, and
        find the row under that id too; the (account id, key id) pairs learnt."""
        learned: set[tuple[int, str]] = set()
        for account_id, update, _ in updates:
            key_id = (update.key_id or "").strip() if isinstance(update.key_id, str) else ""
            ledger = ledgers.get((account_id, update.provider_message_id))
            if not key_id or ledger is None or (account_id, key_id) in ledgers:
                continue
            if ledger.provider_key_id is None:  # known already: its webhooks matched
                ledger.provider_key_id = key_id
                ledger.dirty = True
                ledgers[(account_id, key_id)] = ledger
                learned.add((account_id, key_id))
        return learned

    @staticmethod
    def _recorded_under(
        conn: Connection, keys: set[tuple[int, str]]
    ) -> list[tuple[int, StatusUpdate, str]]:
        """The status updates recorded earlier for these (account id, provider id) pairs,
        as they were parsed (the error's title and detail come back from ``raw``)."""
        found: list[tuple[int, StatusUpdate, str]] = []
        by_account: dict[int, list[str]] = defaultdict(list)
        for account_id, provider_id in sorted(keys):
            by_account[account_id].append(provider_id)
        for account_id, ids in by_account.items():
            for chunk in batched(ids):
                sql = (
                    "SELECT provider_message_id, status, occurred_at, error_code, raw "
                    f"FROM {status_events.name} "
                    f"WHERE account_id = ? AND provider_message_id IN ({placeholders(len(chunk))})"
                )
                for provider_id, status, occurred, code, raw in conn.exec_driver_sql(
                    sql, (account_id, *chunk)
                ):
                    try:
                        delivery = DeliveryStatus(status)
                    except ValueError:
                        continue
                    found.append(
                        (
                            account_id,
                            StatusUpdate(
                                provider_message_id=provider_id,
                                status=delivery,
                                occurred_at=parse_utc(occurred),
                                error=_recorded_error(code, raw),
                            ),
                            occurred,
                        )
                    )
        return found

    @staticmethod
    def _merge(ledger: _Ledger, update: StatusUpdate, at: str) -> bool:
        """Apply ``update`` to ``ledger`` in memory; True when the state moved forward.

        Each step of the delivery chain is dated with the earliest time the provider said
        the message had got at least that far: ``read`` at 10:05 dates ``delivered`` (and
        ``sent``) 10:05 when they were never dated, and a late ``delivered`` of 10:01 then
        corrects ``delivered`` to 10:01 — without moving the state.
        """
        reported = MessageState(update.status.value)
        target = merge_status(ledger.state, update.status)
        if target is not None:
            ledger.state = target
            ledger.dirty = True
            if target is _M.FAILED:  # keep the provider's reason with it
                ledger.times["failed_at"] = at
                if update.error is not None:
                    ledger.error_code = update.error.code
                    ledger.error_title = update.error.title
                    ledger.error_detail = update.error.detail
        if reported in _CHAIN and ledger.state in _CHAIN:
            reached = _CHAIN.index(reported)
            if reached <= _CHAIN.index(ledger.state):
                for step in _CHAIN[: reached + 1]:
                    column = _STATE_COLUMN[step]
                    known = ledger.times[column]
                    if known is None or at < known:
                        ledger.times[column] = at
                        ledger.dirty = True
        return target is not None

    @staticmethod
    def _move_counters(conn: Connection, moved: Iterable[_Ledger]) -> None:
        deltas: dict[int, Counter[str]] = defaultdict(Counter)
        for ledger in moved:
            deltas[ledger.campaign_id][ledger.original_state.value] -= 1
            deltas[ledger.campaign_id][ledger.state.value] += 1
        if not deltas:
            return
        updated: list[tuple[str, int]] = []
        for chunk in batched(sorted(deltas)):
            sql = f"SELECT id, counters FROM campaigns WHERE id IN ({placeholders(len(chunk))})"
            for campaign_id, text in conn.exec_driver_sql(sql, tuple(chunk)):
                counters = _counters_from_json(text)
                for state, delta in deltas[campaign_id].items():
                    counters[state] = counters.get(state, 0) + delta
                if any(count < 0 for count in counters.values()):
                    counters = recount(conn, campaign_id)
                updated.append((json_text(_tidy(counters)), campaign_id))
        conn.exec_driver_sql("UPDATE campaigns SET counters = ? WHERE id = ?", updated)

    # --- inbound -----------------------------------------------------------------------

    def _apply_inbound(
        self, conn: Connection, batch: list[IncomingEvent], now: str
    ) -> dict[str, Any]:
        phones = {
            event.from_phone if isinstance(event, InboundText) else event.phone
            for event in (incoming.event for incoming in batch)
            if isinstance(event, InboundText | MarketingPreference)
        }
        contacts = _contacts_by_phone(conn, phones)
        stored = {contact.id: contact for contact in contacts.values()}
        current = {contact.id: contact for contact in contacts.values()}
        inserted = duplicates = preferences = 0
        opted_out: set[int] = set()
        for incoming in batch:
            if isinstance(incoming.event, MarketingPreference):
                preferences += 1
                preference = incoming.event
                contact = contacts.get(preference.phone)
                # Only a "stop" opts out. A "resume" is recorded nowhere and never opts the
                # contact back in: whether to write to them again is the business's decision.
                if contact is None or not preference.opted_out or not incoming.opt_out_reason:
                    continue
                at = format_utc(min(require_utc(preference.occurred_at), incoming.received_at))
                now_state = current[contact.id]
                if now_state.opted_out_at is None:
                    current[contact.id] = now_state._replace(
                        opted_out_at=at, opt_out_reason=incoming.opt_out_reason
                    )
                    opted_out.add(contact.id)
                continue
            text = incoming.event
            assert isinstance(text, InboundText)
            contact = contacts.get(text.from_phone)
            # A provider clock ahead of ours must not open the 24 h window in the future.
            received = format_utc(min(require_utc(text.received_at), incoming.received_at))
            row = conn.exec_driver_sql(
                _INSERT_INBOUND,
                (
                    incoming.account_id,
                    None if contact is None else contact.id,
                    text.from_phone,
                    text.body,
                    received,
                    text.provider_message_id,
                ),
            ).first()
            if row is None:
                duplicates += 1
                continue
            inserted += 1
            if contact is None:
                continue
            now_state = current[contact.id]
            if now_state.last_inbound_at is None or received > now_state.last_inbound_at:
                now_state = now_state._replace(last_inbound_at=received)
            if incoming.opt_out_reason and now_state.opted_out_at is None:
                now_state = now_state._replace(
                    opted_out_at=received, opt_out_reason=incoming.opt_out_reason
                )
                opted_out.add(contact.id)
            current[contact.id] = now_state
        touched = [state for key, state in current.items() if state != stored[key]]
        if touched:
            conn.exec_driver_sql(
                _UPDATE_CONTACT,
                [
                    (state.last_inbound_at, state.opted_out_at, state.opt_out_reason, now, state.id)
                    for state in touched
                ],
            )
        return {
            "inbound": inserted,
            "inbound_duplicates": duplicates,
            "preferences": preferences,
            "contact_ids": tuple(sorted(state.id for state in touched)),
            "opted_out_ids": tuple(sorted(opted_out)),
        }

    # --- reads -------------------------------------------------------------------------

    def recent_events(self, limit: int = 50) -> list[StatusEvent]:
        """The newest recorded status updates first (for Diagnostics)."""
        stmt = select(status_events).order_by(status_events.c.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [
                StatusEvent(
                    id=row.id,
                    account_id=row.account_id,
                    provider_message_id=row.provider_message_id,
                    status=row.status,
                    occurred_at=row.occurred_at,
                    received_at=row.received_at,
                    source=row.source,
                    error_code=row.error_code,
                    raw=row.raw,
                )
                for row in conn.execute(stmt)
            ]

    def recent_inbound(self, limit: int = 50) -> list[InboundMessage]:
        """The newest inbound messages first (for Diagnostics)."""
        c = inbound_messages.c
        stmt = select(inbound_messages).order_by(c.received_at.desc(), c.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [
                InboundMessage(
                    id=row.id,
                    account_id=row.account_id,
                    contact_id=row.contact_id,
                    from_phone=row.from_phone,
                    body=row.body,
                    received_at=row.received_at,
                    provider_message_id=row.provider_message_id,
                )
                for row in conn.execute(stmt)
            ]

    def in_flight(
        self,
        account_id: int,
        *,
        older_than: datetime,
        limit: int,
        after_id: int = 0,
        newer_than: datetime | None = None,
    ) -> list[Message]:
        """Messages of ``account_id``'s campaigns still in flight (sending, sent, unknown)
        with a provider id, last changed before ``older_than`` (and after ``newer_than``
        when given), by id above ``after_id``: the poller walks them with a cursor so that
        messages that never change do not starve the rest."""
        m = messages.c
        stmt = (
            select(messages)
            .join(campaigns, campaigns.c.id == m.campaign_id)
            .where(
                campaigns.c.account_id == account_id,
                m.state.in_([state.value for state in IN_FLIGHT_STATES]),
                m.provider_message_id.is_not(None),
                m.updated_at < older_than,
                m.id > after_id,
            )
            .order_by(m.id)
            .limit(limit)
        )
        if newer_than is not None:
            stmt = stmt.where(m.updated_at > newer_than)
        with self._engine.connect() as conn:
            return [message_from_row(row) for row in conn.execute(stmt)]

    def counters(self, campaign_id: int) -> dict[str, int]:
        """The campaign's stored counters (state → count)."""
        with self._engine.connect() as conn:
            text = conn.exec_driver_sql(
                "SELECT counters FROM campaigns WHERE id = ?", (campaign_id,)
            ).scalar()
        return _tidy(_counters_from_json(text)) if text is not None else {}


def _recorded_error(code: str | None, raw: str | None) -> ProviderError | None:
    """The error of a recorded ``failed`` update, rebuilt from its columns and ``raw``."""
    if not code:
        return None
    try:
        extra = json.loads(raw) if raw else {}
    except ValueError:
        extra = {}
    error = extra.get("error") if isinstance(extra, dict) else None
    error = error if isinstance(error, dict) else {}
    return ProviderError(
        code=code, title=str(error.get("title") or ""), detail=str(error.get("detail") or "")
    )


def recount(conn: Connection, campaign_id: int) -> dict[str, int]:
    """The campaign's counters counted from its message rows."""
    rows = conn.exec_driver_sql(
        "SELECT state, COUNT(*) FROM messages WHERE campaign_id = ? GROUP BY state", (campaign_id,)
    )
    return {state: count for state, count in rows if count}


def _counters_from_json(text: str | None) -> dict[str, int]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)}


def _tidy(counters: dict[str, int]) -> dict[str, int]:
    return {state: count for state, count in sorted(counters.items()) if count}


class _ContactState(NamedTuple):
    id: int
    last_inbound_at: str | None  # stored text
    opted_out_at: str | None
    opt_out_reason: str | None


def _contacts_by_phone(conn: Connection, phones: set[str]) -> dict[str, _ContactState]:
    """+E164 → the contact it belongs to: by ``phone_e164`` first, else by ``wa_id`` (what
    the provider reports, stored with or without its ``+``)."""
    by_phone: dict[str, _ContactState] = {}
    by_wa_id: dict[str, _ContactState] = {}
    keys = sorted(phones | {phone.lstrip("+") for phone in phones})
    for chunk in batched(keys):
        marks = placeholders(len(chunk))
        sql = (
            "SELECT id, last_inbound_at, opted_out_at, opt_out_reason, phone_e164, wa_id "
            f"FROM contacts WHERE phone_e164 IN ({marks}) OR wa_id IN ({marks})"
        )
        for row in conn.exec_driver_sql(sql, tuple(chunk) * 2):
            state = _ContactState(*row[:4])
            by_phone[row[4]] = state
            if row[5]:
                by_wa_id["+" + row[5].lstrip("+")] = state
    found = {phone: by_phone.get(phone) or by_wa_id.get(phone) for phone in phones}
    return {phone: state for phone, state in found.items() if state is not None}


def message_from_row(row: Row[Any]) -> Message:
    """A ``messages`` row as the core entity (the ledger's and the poller's reading)."""
    times = {
        state: value
        for state, value in (
            ("sending", row.sending_at),
            ("sent", row.sent_at),
            ("delivered", row.delivered_at),
            ("read", row.read_at),
            ("failed", row.failed_at),
        )
        if value is not None
    }
    return Message(
        id=row.id,
        campaign_id=row.campaign_id,
        contact_id=row.contact_id,
        phone_e164=row.phone_e164,
        route=Route(row.route),
        variables=dict(row.variables),
        state=MessageState(row.state),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        provider_message_id=row.provider_message_id,
        error_code=row.error_code,
        error_title=row.error_title,
        error_detail=row.error_detail,
        state_times=times,
    )
