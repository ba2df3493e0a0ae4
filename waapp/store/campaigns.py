"""The campaign store: campaigns, their timeline, and the per-recipient ledger (``messages``).

:class:`CampaignRepository` is what the campaign engine and service stand on. Each method
is one transaction; call it on the database worker. The promises it keeps
(reliability.md §1, architecture.md "The engine"):

- **The claim** (:meth:`CampaignRepository.claim`) moves due ``pending`` / ``retry_wait`` rows
  to ``sending`` (attempts + 1) in a *durable* transaction (``synchronous=FULL``), and only
  while the campaign is ``sending`` in the database: a pause persisted by anyone stops every
  later claim at once. The engine sends nothing it has not claimed this way.
- **Results** (:meth:`CampaignRepository.record_results`) are written in batches, one
  transaction each, with the campaign counters moved by the same delta. They are
  forward-only: a result applies only to a row still ``sending``; a row a delivery receipt
  already moved on (``delivered``/``read``, matched by our reference) keeps its state and
  only gains the provider message id if it had none.
- **Counters** (message state → count, states without rows absent) always change in the
  transaction that changes the rows; :func:`waapp.store.statuses.recount` recounts them.
- Every campaign status change goes through
  :func:`~waapp.core.states.check_campaign_transition` and is recorded in
  ``campaign_events`` with its cause and detail, in the same transaction.
"""

from __future__ import annotations

import builtins
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import Row, insert, select
from sqlalchemy.engine import Connection, Engine

from waapp.core.entities import (
    Campaign,
    CampaignEvent,
    Contact,
    Message,
    MissedSchedulePolicy,
    Route,
    WindowPolicy,
)
from waapp.core.errors import NotFound, ValidationError
from waapp.core.states import CampaignStatus, MessageState, check_campaign_transition
from waapp.store.engine import batched, json_text, placeholders, writer
from waapp.store.schema import (
    campaign_events,
    campaigns,
    contact_groups,
    contacts,
    format_utc,
    messages,
    parse_utc,
)
from waapp.store.statuses import message_from_row, recount

__all__ = [
    "CampaignRepository",
    "CappedClaim",
    "PlannedMessage",
    "Reconciled",
    "SendOutcome",
    "StatusChange",
    "UnknownRow",
]

_M = MessageState
_C = CampaignStatus


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    """One recipient as the campaign's start freezes it: route and variables, or skipped."""

    contact_id: int | None
    phone_e164: str
    route: Route
    variables: dict[str, str]
    skipped_reason: str | None = None  # set: the row is stored ``skipped`` with this detail


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What one send attempt ended in, as the engine writes it back.

    ``state`` is ``sent``, ``retry_wait``, ``failed`` or ``unknown``. ``route`` re-routes the
    row (needs-template). ``refund_attempt`` gives the claim's attempt back: the request was
    never made (released on pause) or was refused for the whole account.
    """

    message_id: int
    state: MessageState
    provider_message_id: str | None = None
    next_attempt_at: datetime | None = None
    error_code: str | None = None
    error_title: str | None = None
    error_detail: str | None = None
    route: Route | None = None
    refund_attempt: bool = False


@dataclass(frozen=True, slots=True)
class UnknownRow:
    """A row whose outcome is ``unknown``, as reconciliation reads it."""

    id: int
    phone_e164: str
    route: Route
    variables: dict[str, str]
    attempts: int
    sending_at: datetime | None  # the claim of the request whose outcome is unknown
    updated_at: datetime  # when it became unknown (the result written, or recovery)


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What reconciliation learnt about one :class:`UnknownRow`.

    ``state`` is ``sent``/``delivered``/``read``/``failed`` (the provider has the message:
    ``provider_message_id``, created ``at``) or ``retry_wait`` (it never reached the
    provider: queued again, due at once, its attempt kept). Applied only while the row is
    still ``unknown`` from the same claim (``attempts``, ``sending_at``): a decision read
    before the row moved on never touches it.
    """

    message_id: int
    attempts: int
    sending_at: datetime | None
    state: MessageState
    provider_message_id: str | None = None
    at: datetime | None = None
    error_code: str | None = None
    error_title: str | None = None
    error_detail: str | None = None


@dataclass(frozen=True, slots=True)
class CappedClaim:
    """What :meth:`CampaignRepository.claim_capped` claimed, and the account's use of its
    caps before the claim: messages in the last hour, people in the last 24 h (both with
    the requests in flight). ``held_by`` (``hourly`` / ``daily``): a cap stopped the claim
    with due rows left; ``frees_at``: when that cap has room again (None: unknown, when
    requests in flight hold the room)."""

    messages: list[Message]
    hourly_used: int = 0
    daily_used: int = 0
    new_people: int = 0  # of the claimed rows, people not yet messaged in the 24 h window
    held_by: str | None = None
    frees_at: datetime | None = None


#: The account's campaigns, for the caps' counts (uses the (campaign_id, …) indexes).
_OF_ACCOUNT = "campaign_id IN (SELECT id FROM campaigns WHERE account_id = ?)"
_HOUR = timedelta(hours=1)
_DAY = timedelta(hours=24)

# The caps' queries (:meth:`CampaignRepository.claim_capped`). Each reads only the rows of
# its window, never the account's whole history: the accepted ones through
# ``ix_messages_campaign_id_sent_at`` (revision 0003), the ones in flight through
# ``ix_messages_campaign_id_state`` — an ``OR`` of the two would read every row of the
# account's campaigns. Parameters in order, ``account_id`` first each time.
#: Messages accepted since a time (account_id, since).
CAP_SENT_SINCE = f"SELECT COUNT(*) FROM messages WHERE {_OF_ACCOUNT} AND sent_at >= ?"
#: Messages in flight not already counted as accepted since a time (account_id, since).
CAP_IN_FLIGHT = (
    f"SELECT COUNT(*) FROM messages WHERE {_OF_ACCOUNT} AND state = 'sending' "
    "AND (sent_at IS NULL OR sent_at < ?)"
)
#: Distinct people accepted since a time or in flight (account_id, since, account_id).
CAP_PEOPLE = (
    f"SELECT COUNT(*) FROM (SELECT phone_e164 FROM messages WHERE {_OF_ACCOUNT} "
    f"AND sent_at >= ? UNION SELECT phone_e164 FROM messages WHERE {_OF_ACCOUNT} "
    "AND state = 'sending')"
)
#: The send ``offset`` places after the window's oldest (account_id, since, offset).
CAP_HOUR_FREES = (
    f"SELECT sent_at FROM messages WHERE {_OF_ACCOUNT} AND sent_at >= ? "
    "ORDER BY sent_at LIMIT 1 OFFSET ?"
)
#: The person ``offset`` places after the one whose last send is oldest in the window
#: (account_id, since, offset).
CAP_DAY_FREES = (
    f"SELECT MAX(sent_at) AS last FROM messages WHERE {_OF_ACCOUNT} AND sent_at >= ? "
    "GROUP BY phone_e164 ORDER BY last LIMIT 1 OFFSET ?"
)
#: The account's first accepted message (account_id): one index lookup per campaign.
FIRST_SEND = (
    "SELECT MIN((SELECT MIN(sent_at) FROM messages WHERE campaign_id = c.id)) "
    "FROM campaigns c WHERE c.account_id = ?"
)


@dataclass(frozen=True, slots=True)
class StatusChange:
    campaign_id: int
    from_status: CampaignStatus
    to_status: CampaignStatus


def _campaign(row: Row[Any]) -> Campaign:
    return Campaign(
        id=row.id,
        name=row.name,
        account_id=row.account_id,
        template_id=row.template_id,
        freeform_template_id=row.freeform_template_id,
        variable_mapping=dict(row.variable_mapping),
        audience=dict(row.audience),
        window_policy=WindowPolicy(row.window_policy),
        scheduled_at=row.scheduled_at,
        missed_schedule_policy=MissedSchedulePolicy(row.missed_schedule_policy),
        missed_after_hours=row.missed_after_hours,
        pacing=dict(row.pacing),
        status=CampaignStatus(row.status),
        counters=_tidy(dict(row.counters)),
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def _tidy(counters: dict[str, Any]) -> dict[str, int]:
    return {str(k): int(v) for k, v in sorted(counters.items()) if isinstance(v, int) and v}


def _shift_counters(conn: Connection, campaign_id: int, delta: Counter[str]) -> None:
    """Move the campaign's counters by ``delta``; recount when they cannot take it."""
    if not any(delta.values()):
        return
    text = conn.exec_driver_sql(
        "SELECT counters FROM campaigns WHERE id = ?", (campaign_id,)
    ).scalar()
    try:
        counters = json.loads(text) if text else {}
    except ValueError:
        counters = {}
    if not isinstance(counters, dict):
        counters = {}
    counters = {k: v for k, v in counters.items() if isinstance(v, int)}
    for state, change in delta.items():
        counters[state] = counters.get(state, 0) + change
    if any(count < 0 for count in counters.values()):
        counters = recount(conn, campaign_id)
    conn.exec_driver_sql(
        "UPDATE campaigns SET counters = ? WHERE id = ?", (json_text(_tidy(counters)), campaign_id)
    )


def _editable(campaign: Campaign) -> dict[str, Any]:
    """The columns the user edits (what is sent, to whom, if missed, how fast), as stored."""
    return {
        "name": campaign.name.strip(),
        "account_id": campaign.account_id,
        "template_id": campaign.template_id,
        "freeform_template_id": campaign.freeform_template_id,
        "variable_mapping": campaign.variable_mapping,
        "audience": campaign.audience,
        "window_policy": WindowPolicy(campaign.window_policy).value,
        "missed_schedule_policy": MissedSchedulePolicy(campaign.missed_schedule_policy).value,
        "missed_after_hours": campaign.missed_after_hours,
        "pacing": campaign.pacing,
    }


class CampaignRepository:
    """Campaigns and their ledger over SQLite (see the module doc).

    ``durable`` is :meth:`waapp.store.database.Database.durable`: the claim's transaction.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        durable: Callable[[], AbstractContextManager[Connection]],
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._durable = durable
        self._clock = clock

    # --- campaigns ---------------------------------------------------------------------

    def add(self, campaign: Campaign) -> Campaign:
        """Insert a new campaign as a ``draft`` with its first timeline entry."""
        if not campaign.name.strip():
            raise ValidationError("A campaign needs a name.")
        now = self._clock()
        with self._writer.begin() as conn:
            result = conn.execute(
                insert(campaigns).values(
                    **_editable(campaign),
                    scheduled_at=campaign.scheduled_at,
                    status=_C.DRAFT.value,
                    counters={},
                    created_at=now,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            campaign_id = key[0]
            conn.execute(
                insert(campaign_events).values(
                    campaign_id=campaign_id,
                    at=now,
                    from_status=None,
                    to_status=_C.DRAFT.value,
                    cause="user",
                    detail="created",
                )
            )
            return self._get(conn, int(campaign_id))

    @staticmethod
    def _get(conn: Connection, campaign_id: int) -> Campaign:
        row = conn.execute(select(campaigns).where(campaigns.c.id == campaign_id)).first()
        if row is None:
            raise NotFound(f"Campaign {campaign_id} does not exist.")
        return _campaign(row)

    def get(self, campaign_id: int) -> Campaign:
        """Raises NotFound."""
        with self._engine.connect() as conn:
            return self._get(conn, campaign_id)

    def list(self, status: CampaignStatus | None = None) -> builtins.list[Campaign]:
        """Newest first."""
        stmt = select(campaigns).order_by(campaigns.c.id.desc())
        if status is not None:
            stmt = stmt.where(campaigns.c.status == CampaignStatus(status).value)
        with self._engine.connect() as conn:
            return [_campaign(row) for row in conn.execute(stmt)]

    def events(self, campaign_id: int) -> builtins.list[CampaignEvent]:
        """The timeline, oldest first."""
        e = campaign_events.c
        stmt = select(campaign_events).where(e.campaign_id == campaign_id).order_by(e.at, e.id)
        with self._engine.connect() as conn:
            return [
                CampaignEvent(
                    id=row.id,
                    campaign_id=row.campaign_id,
                    at=row.at,
                    from_status=None if row.from_status is None else _C(row.from_status),
                    to_status=_C(row.to_status),
                    cause=row.cause,
                    detail=row.detail,
                )
                for row in conn.execute(stmt)
            ]

    def _transition(
        self,
        conn: Connection,
        campaign_id: int,
        target: CampaignStatus,
        *,
        cause: str,
        detail: str,
        only_from: Iterable[CampaignStatus] | None = None,
    ) -> StatusChange | None:
        """Change the status inside ``conn``'s transaction and record it on the timeline.

        ``only_from``: do nothing (None) unless the status is one of these — for the
        engine, whose view may be stale (the user paused meanwhile). Otherwise a refused
        change raises InvalidTransition.
        """
        current = self._get(conn, campaign_id).status
        if only_from is not None and current not in set(only_from):
            return None
        check_campaign_transition(current, target)
        now = self._clock()
        values: dict[str, Any] = {"status": target.value}
        if target is _C.SENDING:
            conn.exec_driver_sql(
                "UPDATE campaigns SET started_at = COALESCE(started_at, ?), finished_at = NULL "
                "WHERE id = ?",
                (format_utc(now), campaign_id),
            )
        if target.is_final:
            values["finished_at"] = now
        conn.execute(campaigns.update().where(campaigns.c.id == campaign_id).values(**values))
        conn.execute(
            insert(campaign_events).values(
                campaign_id=campaign_id,
                at=now,
                from_status=current.value,
                to_status=target.value,
                cause=cause,
                detail=detail,
            )
        )
        return StatusChange(campaign_id, current, target)

    def set_status(
        self,
        campaign_id: int,
        target: CampaignStatus,
        *,
        cause: str,
        detail: str = "",
        only_from: Iterable[CampaignStatus] | None = None,
    ) -> StatusChange | None:
        """Change the campaign's status (see ``_transition``) in its own transaction."""
        with self._writer.begin() as conn:
            return self._transition(
                conn, campaign_id, target, cause=cause, detail=detail, only_from=only_from
            )

    def schedule(
        self,
        campaign_id: int,
        at: datetime,
        *,
        policy: MissedSchedulePolicy,
        after_hours: int,
        cause: str,
        detail: str,
    ) -> StatusChange:
        """A draft becomes ``scheduled`` for ``at`` with its missed-schedule policy."""
        with self._writer.begin() as conn:
            change = self._transition(conn, campaign_id, _C.SCHEDULED, cause=cause, detail=detail)
            assert change is not None
            conn.execute(
                campaigns.update()
                .where(campaigns.c.id == campaign_id)
                .values(
                    scheduled_at=at,
                    missed_schedule_policy=MissedSchedulePolicy(policy).value,
                    missed_after_hours=after_hours,
                )
            )
            return change

    def unschedule(self, campaign_id: int, *, cause: str, detail: str) -> StatusChange | None:
        """A ``scheduled`` campaign back to ``draft`` (its time cleared); None when it is
        no longer scheduled (started or cancelled meanwhile)."""
        with self._writer.begin() as conn:
            change = self._transition(
                conn, campaign_id, _C.DRAFT, cause=cause, detail=detail, only_from=[_C.SCHEDULED]
            )
            if change is not None:
                conn.execute(
                    campaigns.update()
                    .where(campaigns.c.id == campaign_id)
                    .values(scheduled_at=None)
                )
            return change

    def note(self, campaign_id: int, *, cause: str, detail: str) -> None:
        """A timeline entry without a status change (from = to = the current status)."""
        with self._writer.begin() as conn:
            self._note(conn, campaign_id, cause=cause, detail=detail)

    def _note(self, conn: Connection, campaign_id: int, *, cause: str, detail: str) -> None:
        current = self._get(conn, campaign_id).status
        conn.execute(
            insert(campaign_events).values(
                campaign_id=campaign_id,
                at=self._clock(),
                from_status=current.value,
                to_status=current.value,
                cause=cause,
                detail=detail,
            )
        )

    def update_draft(self, campaign: Campaign, *, cause: str, detail: str) -> Campaign:
        """Replace what a ``draft`` campaign will send (name, account, message, mapping,
        audience, window policy, missed-schedule policy, pace) with ``campaign``'s, with a
        timeline entry. Its status, time, counters and history stay. ValidationError when
        it is no longer a draft (started, scheduled or cancelled meanwhile)."""
        if campaign.id is None:
            raise ValidationError("Only a saved campaign can be changed.")
        if not campaign.name.strip():
            raise ValidationError("A campaign needs a name.")
        with self._writer.begin() as conn:
            current = self._get(conn, campaign.id)
            if current.status is not _C.DRAFT:
                raise ValidationError(
                    f"“{current.name}” is {current.status.value}: only a draft can be changed.",
                    what_to_do="Duplicate it to send the same campaign again with changes.",
                )
            conn.execute(
                campaigns.update()
                .where(campaigns.c.id == campaign.id)
                .values(
                    **_editable(campaign),
                )
            )
            conn.execute(
                insert(campaign_events).values(
                    campaign_id=campaign.id,
                    at=self._clock(),
                    from_status=_C.DRAFT.value,
                    to_status=_C.DRAFT.value,
                    cause=cause,
                    detail=detail,
                )
            )
            return self._get(conn, campaign.id)

    def update_scheduled(
        self, campaign: Campaign, *, at: datetime | None, cause: str, detail: str
    ) -> Campaign:
        """Replace what a ``scheduled`` campaign sends (the fields :meth:`update_draft`
        changes) and its time in one transaction: it stays ``scheduled`` for ``at`` (UTC,
        with ``campaign``'s missed-schedule policy) with one timeline note, or, ``at``
        None, goes back to ``draft`` (its time cleared) with that entry. ValidationError
        when it is no longer scheduled (started, cancelled or unscheduled meanwhile)."""
        if campaign.id is None:
            raise ValidationError("Only a saved campaign can be changed.")
        if not campaign.name.strip():
            raise ValidationError("A campaign needs a name.")
        with self._writer.begin() as conn:
            current = self._get(conn, campaign.id)
            if current.status is not _C.SCHEDULED:
                raise ValidationError(
                    f"“{current.name}” is {current.status.value} now: the changes were not saved.",
                    what_to_do="Open it again to see where it is; duplicate it to send the "
                    "same campaign with changes.",
                )
            conn.execute(
                campaigns.update()
                .where(campaigns.c.id == campaign.id)
                .values(
                    **_editable(campaign),
                    scheduled_at=at,
                )
            )
            if at is None:
                self._transition(conn, campaign.id, _C.DRAFT, cause=cause, detail=detail)
            else:
                conn.execute(
                    insert(campaign_events).values(
                        campaign_id=campaign.id,
                        at=self._clock(),
                        from_status=_C.SCHEDULED.value,
                        to_status=_C.SCHEDULED.value,
                        cause=cause,
                        detail=detail,
                    )
                )
            return self._get(conn, campaign.id)

    def delete_draft(self, campaign_id: int) -> str:
        """Delete a ``draft`` campaign and its timeline (a draft has no recipients yet);
        returns its name. ValidationError for any other status: a campaign that sent
        anything keeps its history."""
        with self._writer.begin() as conn:
            current = self._get(conn, campaign_id)
            if current.status is not _C.DRAFT:
                raise ValidationError(
                    f"“{current.name}” is {current.status.value}: only a draft can be deleted.",
                    what_to_do="A campaign that was scheduled or sent keeps its history; "
                    "cancel it instead.",
                )
            conn.execute(messages.delete().where(messages.c.campaign_id == campaign_id))
            conn.execute(
                campaign_events.delete().where(campaign_events.c.campaign_id == campaign_id)
            )
            conn.execute(campaigns.delete().where(campaigns.c.id == campaign_id))
            return current.name

    # --- the audience and the ledger ---------------------------------------------------

    def audience(self, group_ids: Sequence[int]) -> builtins.list[Contact]:
        """The contacts of any of ``group_ids``, each once, by id."""
        if not group_ids:
            return []
        cg = contact_groups.c
        members = select(cg.contact_id).where(cg.group_id.in_(list(group_ids)))
        stmt = select(contacts).where(contacts.c.id.in_(members)).order_by(contacts.c.id)
        with self._engine.connect() as conn:
            return [
                Contact(
                    id=row.id,
                    phone_e164=row.phone_e164,
                    wa_id=row.wa_id,
                    name=row.name,
                    fields=dict(row.fields),
                    opted_out_at=row.opted_out_at,
                    opt_out_reason=row.opt_out_reason,
                    last_inbound_at=row.last_inbound_at,
                )
                for row in conn.execute(stmt)
            ]

    def begin_sending(
        self, campaign_id: int, planned: Sequence[PlannedMessage], *, cause: str, detail: str
    ) -> StatusChange:
        """Freeze the ledger and move the campaign to ``sending``, in one transaction.

        A draft passes through ``scheduled`` (the state machine's only way to ``sending``).
        The rows are inserted only when the campaign has none yet; later starts (resume)
        must go through :meth:`set_status`.
        """
        now = self._clock()
        stamp = format_utc(now)
        with self._writer.begin() as conn:
            current = self._get(conn, campaign_id).status
            if current not in (_C.DRAFT, _C.SCHEDULED):
                check_campaign_transition(current, _C.SCHEDULED)  # raises: cannot start
            has_rows = conn.exec_driver_sql(
                "SELECT 1 FROM messages WHERE campaign_id = ? LIMIT 1", (campaign_id,)
            ).first()
            if has_rows is None and planned:
                conn.exec_driver_sql(
                    "INSERT INTO messages (campaign_id, contact_id, phone_e164, route, "
                    "variables, state, attempts, error_detail, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
                    [
                        (
                            campaign_id,
                            p.contact_id,
                            p.phone_e164,
                            p.route.value,
                            json_text(p.variables),
                            (_M.SKIPPED if p.skipped_reason else _M.PENDING).value,
                            p.skipped_reason,
                            stamp,
                        )
                        for p in planned
                    ],
                )
                conn.exec_driver_sql(
                    "UPDATE campaigns SET counters = ? WHERE id = ?",
                    (json_text(_tidy(recount(conn, campaign_id))), campaign_id),
                )
            if current is _C.DRAFT:
                self._transition(conn, campaign_id, _C.SCHEDULED, cause=cause, detail="")
            change = self._transition(conn, campaign_id, _C.SENDING, cause=cause, detail=detail)
            assert change is not None
            return change

    def claim(self, campaign_id: int, *, limit: int) -> builtins.list[Message]:
        """Claim up to ``limit`` due rows (oldest first) in a durable transaction.

        Nothing is claimed unless the campaign is ``sending`` in the database.
        """
        now = format_utc(self._clock())
        with self._durable() as conn:
            status = conn.exec_driver_sql(
                "SELECT status FROM campaigns WHERE id = ?", (campaign_id,)
            ).scalar()
            if status != _C.SENDING.value or limit <= 0:
                return []
            return self._take(conn, campaign_id, self._due(conn, campaign_id, now, limit), now)

    @staticmethod
    def _due(
        conn: Connection, campaign_id: int, now: str, limit: int
    ) -> builtins.list[tuple[int, str]]:
        """The campaign's ``limit`` oldest due rows as (id, state). Two queries that each
        read an index in id order (one ``OR`` would sort every pending row per claim)."""
        pending = conn.exec_driver_sql(
            "SELECT id, state FROM messages WHERE campaign_id = ? AND state = 'pending' "
            "ORDER BY id LIMIT ?",
            (campaign_id, limit),
        ).all()
        retries = conn.exec_driver_sql(
            "SELECT id, state FROM messages WHERE campaign_id = ? AND state = 'retry_wait' "
            "AND next_attempt_at <= ? ORDER BY id LIMIT ?",
            (campaign_id, now, limit),
        ).all()
        rows = [(row[0], row[1]) for row in pending]
        if retries:
            rows = sorted(rows + [(row[0], row[1]) for row in retries])[:limit]
        return rows

    @staticmethod
    def _take(
        conn: Connection, campaign_id: int, due: Sequence[tuple[int, str]], now: str
    ) -> builtins.list[Message]:
        """Move ``due`` (id, state) rows to ``sending`` inside the claim's transaction."""
        if not due:
            return []
        ids = [row[0] for row in due]
        conn.exec_driver_sql(
            f"UPDATE messages SET state = 'sending', attempts = attempts + 1, "
            f"sending_at = ?, next_attempt_at = NULL, updated_at = ? "
            f"WHERE id IN ({placeholders(len(ids))})",
            (now, now, *ids),
        )
        delta: Counter[str] = Counter()
        for _, state in due:
            delta[state] -= 1
        delta[_M.SENDING.value] += len(due)
        _shift_counters(conn, campaign_id, delta)
        rows = conn.execute(select(messages).where(messages.c.id.in_(ids)).order_by(messages.c.id))
        return [message_from_row(row) for row in rows]

    def claim_capped(
        self,
        campaign_id: int,
        *,
        limit: int,
        account_id: int,
        hourly_cap: int | None,
        daily_cap: int | None,
        now: datetime,
    ) -> CappedClaim:
        """:meth:`claim` within the account's caps, counted and claimed in one durable
        transaction (so two campaigns of one account cannot both take the last room).

        ``hourly_cap``: messages per rolling hour; ``daily_cap``: distinct people per
        rolling 24 h. Both count every campaign of ``account_id``: rows accepted in the
        window (``sent_at``) and rows being sent now. A due recipient the account already
        messaged in the 24 h window is not a new person and takes no daily room. Rows are
        taken oldest first and the claim stops at the first one that does not fit, so
        nothing is claimed that may not be sent.
        """
        stamp = format_utc(self._clock())
        hour_since = format_utc(now - _HOUR)
        day_since = format_utc(now - _DAY)
        with self._durable() as conn:
            status = conn.exec_driver_sql(
                "SELECT status FROM campaigns WHERE id = ?", (campaign_id,)
            ).scalar()
            if status != _C.SENDING.value or limit <= 0:
                return CappedClaim([])
            hourly_used = daily_used = 0
            room = limit
            if hourly_cap is not None:
                hourly_used = sum(
                    int(conn.exec_driver_sql(sql, (account_id, hour_since)).scalar() or 0)
                    for sql in (CAP_SENT_SINCE, CAP_IN_FLIGHT)
                )
                room = min(room, max(0, hourly_cap - hourly_used))
            if daily_cap is not None:
                daily_used = int(
                    conn.exec_driver_sql(CAP_PEOPLE, (account_id, day_since, account_id)).scalar()
                    or 0
                )
            # The oldest due rows first, then (only for them) whether they are new people.
            due = self._due(conn, campaign_id, stamp, max(room, 1))
            seen: set[int] = set()
            if daily_cap is not None and due:
                ids = [row[0] for row in due]
                seen = {
                    row[0]
                    for row in conn.exec_driver_sql(
                        "SELECT m.id FROM messages m WHERE m.id IN "
                        f"({placeholders(len(ids))}) AND EXISTS (SELECT 1 FROM messages o "
                        f"WHERE o.{_OF_ACCOUNT} AND o.phone_e164 = m.phone_e164 "
                        "AND o.id != m.id AND (o.sent_at >= ? OR o.state = 'sending'))",
                        (*ids, account_id, day_since),
                    )
                }
            if not due:
                return CappedClaim([], hourly_used, daily_used)
            if room <= 0:
                assert hourly_cap is not None
                return CappedClaim(
                    [],
                    hourly_used,
                    daily_used,
                    held_by="hourly",
                    frees_at=self._hour_frees(
                        conn, account_id, hour_since, hourly_used - hourly_cap
                    ),
                )
            taken: builtins.list[tuple[int, str]] = []
            new = 0
            held_by = None
            for message_id, state in due:
                if daily_cap is not None and message_id not in seen:
                    if daily_used + new >= daily_cap:
                        held_by = "daily"
                        break
                    new += 1
                taken.append((message_id, state))
            frees_at = None
            if held_by == "daily":
                assert daily_cap is not None
                frees_at = self._day_frees(conn, account_id, day_since, daily_used - daily_cap)
            return CappedClaim(
                self._take(conn, campaign_id, taken, stamp),
                hourly_used,
                daily_used,
                new_people=new,
                held_by=held_by,
                frees_at=frees_at,
            )

    @staticmethod
    def _hour_frees(conn: Connection, account_id: int, since: str, over: int) -> datetime | None:
        """When one more message fits in the hour: the send ``over`` places after the
        window's oldest leaves it (None: the room is held by requests in flight)."""
        found = conn.exec_driver_sql(CAP_HOUR_FREES, (account_id, since, max(0, over))).scalar()
        return None if found is None else parse_utc(found) + _HOUR

    @staticmethod
    def _day_frees(conn: Connection, account_id: int, since: str, over: int) -> datetime | None:
        """When one more person fits in the 24 h window: a person leaves it 24 h after
        their last message (None: the room is held by requests in flight)."""
        found = conn.exec_driver_sql(CAP_DAY_FREES, (account_id, since, max(0, over))).scalar()
        return None if found is None else parse_utc(found) + _DAY

    def first_send(self, account_id: int) -> datetime | None:
        """When the account's first message was accepted through waapp (the warm-up's
        day 0), None when it never sent."""
        with self._engine.connect() as conn:
            found = conn.exec_driver_sql(FIRST_SEND, (account_id,)).scalar()
        return None if found is None else parse_utc(found)

    def record_results(self, outcomes: Sequence[SendOutcome]) -> dict[int, Counter[str]]:
        """Write a batch of send outcomes, forward-only (module doc). Returns the counter
        delta per campaign."""
        if not outcomes:
            return {}
        now = format_utc(self._clock())
        deltas: dict[int, Counter[str]] = {}
        with self._writer.begin() as conn:
            current: dict[int, tuple[int, str, str | None]] = {}
            for chunk in batched([o.message_id for o in outcomes]):
                sql = (
                    "SELECT id, campaign_id, state, provider_message_id FROM messages "
                    f"WHERE id IN ({placeholders(len(chunk))})"
                )
                for row in conn.exec_driver_sql(sql, tuple(chunk)):
                    current[row[0]] = (row[1], row[2], row[3])
            # The updates go out as two executemany at the end (one statement per row costs
            # the driver round trip each time); the state each row reaches is tracked here.
            results: builtins.list[tuple[Any, ...]] = []
            learnt: builtins.list[tuple[Any, ...]] = []
            for outcome in outcomes:
                found = current.get(outcome.message_id)
                if found is None:
                    continue
                campaign_id, state, provider_id = found
                if state != _M.SENDING.value:
                    # A receipt overtook the result: keep its state, learn the id.
                    if outcome.provider_message_id and provider_id is None:
                        learnt.append((outcome.provider_message_id, now, outcome.message_id))
                    continue
                target = outcome.state
                results.append(
                    (
                        target.value,
                        outcome.provider_message_id,
                        None
                        if outcome.next_attempt_at is None
                        else format_utc(outcome.next_attempt_at),
                        outcome.error_code,
                        outcome.error_title,
                        outcome.error_detail,
                        None if outcome.route is None else outcome.route.value,
                        1 if outcome.refund_attempt else 0,
                        target is _M.SENT,
                        now,
                        target is _M.FAILED,
                        now,
                        now,
                        outcome.message_id,
                    )
                )
                current[outcome.message_id] = (campaign_id, target.value, provider_id)
                delta = deltas.setdefault(campaign_id, Counter())
                delta[state] -= 1
                delta[target.value] += 1
            if results:
                conn.exec_driver_sql(
                    "UPDATE messages SET state = ?, provider_message_id = COALESCE(?, "
                    "provider_message_id), next_attempt_at = ?, error_code = ?, error_title = ?, "
                    "error_detail = ?, route = COALESCE(?, route), attempts = attempts - ?, "
                    "sent_at = CASE WHEN ? THEN ? ELSE sent_at END, "
                    "failed_at = CASE WHEN ? THEN ? ELSE failed_at END, updated_at = ? "
                    "WHERE id = ?",
                    results,
                )
            if learnt:
                conn.exec_driver_sql(
                    "UPDATE messages SET provider_message_id = ?, updated_at = ? "
                    "WHERE id = ? AND provider_message_id IS NULL",
                    learnt,
                )
            for campaign_id, delta in deltas.items():
                _shift_counters(conn, campaign_id, delta)
        return deltas

    def recover_sending(self, note: Callable[[int], str] | None = None) -> dict[int, int]:
        """Start-up recovery: every row left ``sending`` becomes ``unknown`` (its request
        may have left), with ``note(rows moved)`` on each campaign's timeline in the same
        transaction (cause ``recovery``), so a crash cannot keep one without the other.
        Returns campaign id → rows moved."""
        now = format_utc(self._clock())
        with self._writer.begin() as conn:
            found = conn.exec_driver_sql(
                "SELECT campaign_id, COUNT(*) FROM messages WHERE state = 'sending' "
                "GROUP BY campaign_id"
            ).all()
            if not found:
                return {}
            conn.exec_driver_sql(
                "UPDATE messages SET state = 'unknown', error_title = ?, error_detail = ?, "
                "updated_at = ? WHERE state = 'sending'",
                (
                    "Outcome unknown",
                    "waapp stopped while this message was being sent; it may or may not have "
                    "reached the provider.",
                    now,
                ),
            )
            moved: dict[int, int] = {}
            for campaign_id, count in found:
                _shift_counters(
                    conn, campaign_id, Counter({_M.SENDING.value: -count, _M.UNKNOWN.value: count})
                )
                if note is not None:
                    self._note(conn, campaign_id, cause="recovery", detail=note(count))
                moved[campaign_id] = count
            return moved

    def _move_rows(
        self,
        conn: Connection,
        campaign_id: int,
        where: str,
        params: tuple[Any, ...],
        sets: str,
        set_params: tuple[Any, ...],
        target: MessageState,
    ) -> int:
        rows = conn.exec_driver_sql(
            f"SELECT id, state FROM messages WHERE campaign_id = ? AND {where}",
            (campaign_id, *params),
        ).all()
        if not rows:
            return 0
        delta: Counter[str] = Counter()
        ids = [row[0] for row in rows]
        for chunk in batched(ids):
            conn.exec_driver_sql(
                f"UPDATE messages SET state = ?, {sets} WHERE id IN ({placeholders(len(chunk))})",
                (target.value, *set_params, *chunk),
            )
        for _, state in rows:
            delta[state] -= 1
            delta[target.value] += 1
        _shift_counters(conn, campaign_id, delta)
        return len(rows)

    def cancel(self, campaign_id: int, *, cause: str, detail: str = "") -> int:
        """Cancel the campaign: its pending and waiting rows become ``cancelled``."""
        now = format_utc(self._clock())
        with self._writer.begin() as conn:
            self._transition(conn, campaign_id, _C.CANCELLED, cause=cause, detail=detail)
            return self._move_rows(
                conn,
                campaign_id,
                "state IN ('pending', 'retry_wait')",
                (),
                "next_attempt_at = NULL, updated_at = ?",
                (now,),
                _M.CANCELLED,
            )

    def retry_failed(self, campaign_id: int, *, codes: Sequence[str] | None, cause: str) -> int:
        """Failed rows (only those with ``codes`` when given) back to ``pending`` and the
        campaign to ``sending``. Returns how many rows were queued again."""
        now = format_utc(self._clock())
        where = "state = 'failed'"
        params: tuple[Any, ...] = ()
        if codes is not None:
            where += f" AND error_code IN ({placeholders(len(codes))})" if codes else " AND 0"
            params = tuple(codes)
        with self._writer.begin() as conn:
            count = self._move_rows(
                conn,
                campaign_id,
                where,
                params,
                "attempts = 0, next_attempt_at = NULL, error_code = NULL, error_title = NULL, "
                "error_detail = NULL, failed_at = NULL, updated_at = ?",
                (now,),
                _M.PENDING,
            )
            if count:
                self._transition(
                    conn,
                    campaign_id,
                    _C.SENDING,
                    cause=cause,
                    detail=f"retry failed: {count} recipient(s) queued again",
                )
            return count

    def resolve_unknown(
        self, campaign_id: int, message_ids: Sequence[int], *, send_again: bool
    ) -> int:
        """The user's decision on ``unknown`` rows: "mark as sent" or "send again"."""
        now = format_utc(self._clock())
        ids = tuple(message_ids)
        if not ids:
            return 0
        with self._writer.begin() as conn:
            where = f"state = 'unknown' AND id IN ({placeholders(len(ids))})"
            if send_again:
                return self._move_rows(
                    conn,
                    campaign_id,
                    where,
                    ids,
                    "attempts = 0, error_title = NULL, error_detail = NULL, updated_at = ?",
                    (now,),
                    _M.PENDING,
                )
            return self._move_rows(
                conn,
                campaign_id,
                where,
                ids,
                "sent_at = COALESCE(sent_at, ?), error_title = NULL, "
                "error_detail = 'marked as sent by the user', updated_at = ?",
                (now, now),
                _M.SENT,
            )

    def provider_ids_of_others(
        self, message_id: int, provider_ids: Iterable[str]
    ) -> builtins.set[str]:
        """Of ``provider_ids``, those another row than ``message_id`` (of any campaign)
        holds as its ``provider_message_id``: messages reconciliation knows are not that
        row's."""
        wanted = sorted(set(provider_ids))
        found: builtins.set[str] = set()
        if not wanted:
            return found
        with self._engine.connect() as conn:
            for chunk in batched(wanted):
                found.update(
                    row[0]
                    for row in conn.exec_driver_sql(
                        "SELECT provider_message_id FROM messages WHERE provider_message_id "
                        f"IN ({placeholders(len(chunk))}) AND id != ?",
                        (*chunk, message_id),
                    )
                )
        return found

    def unknown_rows(self, campaign_id: int) -> builtins.list[UnknownRow]:
        """The campaign's rows whose outcome is ``unknown``, by id."""
        with self._engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT id, phone_e164, route, variables, attempts, sending_at, updated_at "
                "FROM messages WHERE campaign_id = ? AND state = 'unknown' ORDER BY id",
                (campaign_id,),
            ).all()
        found = []
        for row in rows:
            try:
                variables = json.loads(row[3]) if row[3] else {}
            except ValueError:
                variables = {}
            found.append(
                UnknownRow(
                    id=row[0],
                    phone_e164=row[1],
                    route=Route(row[2]),
                    variables={str(k): str(v) for k, v in dict(variables).items()},
                    attempts=row[4],
                    sending_at=None if row[5] is None else parse_utc(row[5]),
                    updated_at=parse_utc(row[6]),
                )
            )
        return found

    def reconcile_unknown(
        self, campaign_id: int, decisions: Sequence[Reconciled]
    ) -> dict[str, int]:
        """Apply reconciliation's findings (see :class:`Reconciled`) in one transaction,
        counters with them. Returns how many rows moved, by target state."""
        now = self._clock()
        stamp = format_utc(now)
        moved: Counter[str] = Counter()
        with self._writer.begin() as conn:
            for d in decisions:
                target = MessageState(d.state)
                if target not in (_M.SENT, _M.DELIVERED, _M.READ, _M.FAILED, _M.RETRY_WAIT):
                    raise ValueError(f"reconciliation cannot move a row to {target.value}")
                at = format_utc(d.at or now)
                found = target is not _M.RETRY_WAIT
                reached = {
                    state: found and _RANK_OF[target] >= _RANK_OF[state]
                    for state in (_M.DELIVERED, _M.READ)
                }
                result = conn.exec_driver_sql(
                    "UPDATE messages SET state = ?, "
                    "provider_message_id = COALESCE(?, provider_message_id), "
                    "next_attempt_at = ?, error_code = ?, error_title = ?, error_detail = ?, "
                    "sent_at = CASE WHEN ? THEN COALESCE(sent_at, ?) ELSE sent_at END, "
                    "delivered_at = CASE WHEN ? THEN COALESCE(delivered_at, ?) "
                    "ELSE delivered_at END, "
                    "read_at = CASE WHEN ? THEN COALESCE(read_at, ?) ELSE read_at END, "
                    "failed_at = CASE WHEN ? THEN ? ELSE failed_at END, updated_at = ? "
                    "WHERE id = ? AND campaign_id = ? AND state = 'unknown' AND attempts = ? "
                    "AND sending_at IS ?",
                    (
                        target.value,
                        d.provider_message_id,
                        stamp if target is _M.RETRY_WAIT else None,
                        d.error_code,
                        d.error_title,
                        d.error_detail,
                        found,
                        at,
                        reached[_M.DELIVERED],
                        stamp,
                        reached[_M.READ],
                        stamp,
                        target is _M.FAILED,
                        stamp,
                        stamp,
                        d.message_id,
                        campaign_id,
                        d.attempts,
                        None if d.sending_at is None else format_utc(d.sending_at),
                    ),
                )
                if result.rowcount:
                    moved[target.value] += 1
            delta: Counter[str] = Counter(moved)
            delta[_M.UNKNOWN.value] -= sum(moved.values())
            _shift_counters(conn, campaign_id, delta)
        return dict(moved)

    # --- reads for the engine and the views --------------------------------------------

    def open_work(self, campaign_id: int) -> tuple[dict[str, int], datetime | None]:
        """Counts of rows by state (from the rows) and the earliest retry time."""
        with self._engine.connect() as conn:
            counts = recount(conn, campaign_id)
            first = conn.exec_driver_sql(
                "SELECT MIN(next_attempt_at) FROM messages WHERE campaign_id = ? "
                "AND state = 'retry_wait'",
                (campaign_id,),
            ).scalar()
        return counts, None if first is None else datetime.fromisoformat(first).astimezone(UTC)

    def recount(self, campaign_id: int) -> dict[str, int]:
        with self._engine.connect() as conn:
            return recount(conn, campaign_id)

    def messages(
        self, campaign_id: int, state: MessageState | None = None
    ) -> builtins.list[Message]:
        m = messages.c
        stmt = select(messages).where(m.campaign_id == campaign_id).order_by(m.id)
        if state is not None:
            stmt = stmt.where(m.state == MessageState(state).value)
        with self._engine.connect() as conn:
            return [message_from_row(row) for row in conn.execute(stmt)]

    def campaigns_in(self, status: CampaignStatus) -> builtins.list[int]:
        with self._engine.connect() as conn:
            return [
                row[0]
                for row in conn.exec_driver_sql(
                    "SELECT id FROM campaigns WHERE status = ? ORDER BY id", (status.value,)
                )
            ]

    # --- reads for the campaign view (read-only) ---------------------------------------

    #: Columns the recipient table may sort by (SQL expressions, never user text).
    RECIPIENT_SORTS: ClassVar[dict[str, str]] = {
        "id": "m.id",
        "name": "c.name COLLATE NOCASE",
        "phone": "m.phone_e164",
        "state": "m.state",
        "updated": "m.updated_at",
        "error": "m.error_code",
    }

    def recipient_ids(
        self,
        campaign_id: int,
        *,
        states: Sequence[str] | None = None,
        sort: str = "id",
        descending: bool = False,
    ) -> builtins.list[int]:
        """The campaign's message ids (only those in ``states`` when given), in ``sort``
        order (a key of :attr:`RECIPIENT_SORTS`); ties by id. One cheap query: the view
        keeps the ids and fetches rows by page."""
        order = self.RECIPIENT_SORTS[sort]
        direction = "DESC" if descending else "ASC"
        where = "m.campaign_id = ?"
        params: builtins.list[Any] = [campaign_id]
        if states is not None:
            if not states:
                return []
            where += f" AND m.state IN ({placeholders(len(states))})"
            params.extend(MessageState(s).value for s in states)
        join = " LEFT JOIN contacts c ON c.id = m.contact_id" if sort == "name" else ""
        sql = (
            f"SELECT m.id FROM messages m{join} WHERE {where} "
            f"ORDER BY {order} {direction}, m.id {direction}"
        )
        with self._engine.connect() as conn:
            # The driver's cursor: SQLAlchemy's row processing doubles the time at 100 000.
            cursor = conn.connection.driver_connection.execute(sql, tuple(params))  # type: ignore[union-attr]
            return [row[0] for row in cursor.fetchall()]

    def recipients(self, message_ids: Sequence[int]) -> builtins.list[tuple[Message, str | None]]:
        """The messages of ``message_ids`` with their contact's name (None when the contact
        is gone), in the order of ``message_ids``; unknown ids are left out."""
        found: dict[int, tuple[Message, str | None]] = {}
        m = messages.c
        with self._engine.connect() as conn:
            for chunk in batched(builtins.list(message_ids)):
                stmt = (
                    select(messages, contacts.c.name.label("contact_name"))
                    .select_from(messages.outerjoin(contacts, contacts.c.id == m.contact_id))
                    .where(m.id.in_(builtins.list(chunk)))
                )
                for row in conn.execute(stmt):
                    found[row.id] = (message_from_row(row), row.contact_name)
        return [found[i] for i in message_ids if i in found]

    def failures_by_code(self, campaign_id: int) -> builtins.list[tuple[str | None, str, int]]:
        """The failed recipients grouped by error code: (code, a title the provider gave,
        count), most frequent first."""
        with self._engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT error_code, MAX(COALESCE(error_title, '')), COUNT(*) FROM messages "
                "WHERE campaign_id = ? AND state = 'failed' GROUP BY error_code "
                "ORDER BY COUNT(*) DESC, error_code",
                (campaign_id,),
            ).all()
        return [(row[0], str(row[1] or ""), int(row[2])) for row in rows]

    def sent_since(self, since: datetime, *, campaign_id: int | None = None) -> int:
        """How many messages were sent at or after ``since`` (one campaign's, or all):
        the current rate and "sent today"."""
        sql = "SELECT COUNT(*) FROM messages WHERE sent_at >= ?"
        params: tuple[Any, ...] = (format_utc(since),)
        if campaign_id is not None:
            sql += " AND campaign_id = ?"
            params += (campaign_id,)
        with self._engine.connect() as conn:
            return int(conn.exec_driver_sql(sql, params).scalar() or 0)


#: The delivery chain's order, for dating the steps a reconciled row reached.
_RANK_OF = {_M.SENT: 0, _M.FAILED: 0, _M.DELIVERED: 1, _M.READ: 2}

#: States that still need the engine (``unknown`` waits for the user or a receipt).
OPEN_STATES = frozenset({_M.PENDING, _M.RETRY_WAIT, _M.SENDING})
