"""CampaignService: what the UI and the command line do with campaigns.

Every action goes through the database state first (listmonk's lesson): ``pause`` persists
``paused`` — from that commit on no claim succeeds — and then waits for the requests in
flight to be written; ``resume`` persists ``sending`` and starts a runner; ``cancel``
persists ``cancelled`` with the pending and waiting rows. Each status change is on the
campaign's timeline with its cause and detail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from waapp.core.catalogue import Dialect
from waapp.core.entities import (
    Campaign,
    CampaignEvent,
    MissedSchedulePolicy,
    TemplateKind,
    WindowPolicy,
)
from waapp.core.errors import ValidationError, WaappError
from waapp.core.ports import HealthReport
from waapp.core.states import CampaignStatus
from waapp.core.templates import mapping_from_dict, parse_placeholders
from waapp.core.window import window_applies
from waapp.services.campaigns.engine import CampaignEngine, ProviderFor
from waapp.services.campaigns.planning import plan_messages
from waapp.services.campaigns.preflight import (
    CampaignDraft,
    PreflightReport,
    TestSendOutcome,
    run_preflight,
    send_test,
)
from waapp.services.campaigns.timeline import local_time
from waapp.services.events import CampaignChanged, EventBus
from waapp.store.campaigns import CampaignRepository
from waapp.store.database import Database
from waapp.store.worker import DatabaseWorker

__all__ = ["CampaignChanged", "CampaignReport", "CampaignService"]

_C = CampaignStatus


@dataclass(frozen=True, slots=True)
class CampaignReport:
    campaign: Campaign
    counts: dict[str, int]  # per message state, counted from the rows
    timeline: list[CampaignEvent] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        c = self.campaign
        return {
            "id": c.id,
            "name": c.name,
            "status": c.status.value,
            "account_id": c.account_id,
            "counts": self.counts,
            "created_at": None if c.created_at is None else c.created_at.isoformat(),
            "started_at": None if c.started_at is None else c.started_at.isoformat(),
            "finished_at": None if c.finished_at is None else c.finished_at.isoformat(),
            "timeline": [
                {
                    "at": e.at.isoformat(),
                    "from": None if e.from_status is None else e.from_status.value,
                    "to": e.to_status.value,
                    "cause": e.cause,
                    "detail": e.detail,
                }
                for e in self.timeline
            ],
        }


class CampaignService:
    """``provider_for(account_id)`` is ``AccountService.provider``."""

    def __init__(
        self,
        *,
        db: Database,
        worker: DatabaseWorker,
        provider_for: ProviderFor,
        bus: EventBus,
        engine_settings: dict[str, Any] | None = None,
    ) -> None:
        self._db = db
        self._worker = worker
        self._bus = bus
        self._provider_for = provider_for
        self.repo = CampaignRepository(db.engine, durable=db.durable)
        self.engine = CampaignEngine(
            repo=self.repo,
            templates=db.templates,
            worker=worker,
            provider_for=provider_for,
            settings_overrides=engine_settings,
            on_change=lambda campaign_id: bus.publish(CampaignChanged(campaign_id)),
        )

    # --- life cycle --------------------------------------------------------------------

    async def start_engine(self) -> None:
        """Start-up recovery, then resume every campaign that is ``sending``."""
        await self.engine.start()

    async def stop_engine(self) -> None:
        """Drain every runner; ``sending`` campaigns resume at the next start."""
        await self.engine.stop()

    # --- creating ----------------------------------------------------------------------

    async def create(
        self,
        *,
        name: str,
        account_id: int,
        group_ids: list[int],
        template_id: int | None = None,
        freeform_template_id: int | None = None,
        variable_mapping: dict[str, dict[str, str]] | None = None,
        window_policy: WindowPolicy | None = None,
        exclude_opted_out: bool = True,
        pacing: dict[str, Any] | None = None,
    ) -> Campaign:
        """A draft campaign. ValidationError when the message cannot be sent as set up:
        no template nor free-form text, a template that is not approved, a placeholder
        without a mapping."""
        mapping_dict = variable_mapping or {}
        window_policy = await self._check_message(
            group_ids=group_ids,
            template_id=template_id,
            freeform_template_id=freeform_template_id,
            variable_mapping=mapping_dict,
            window_policy=window_policy,
        )
        campaign = Campaign(
            name=name,
            account_id=account_id,
            template_id=template_id,
            freeform_template_id=freeform_template_id,
            variable_mapping=mapping_dict,
            audience={"group_ids": list(group_ids), "exclude_opted_out": exclude_opted_out},
            window_policy=window_policy,
            pacing=dict(pacing or {}),
        )
        created = await self._worker.run(self.repo.add, campaign)
        assert created.id is not None
        self._changed(created.id)
        return created

    async def update(self, campaign_id: int, draft: CampaignDraft) -> Campaign:
        """Replace what a draft or a scheduled campaign sends with ``draft`` (audience,
        message, mapping, window policy, missed-schedule policy, pace), checked as
        :meth:`create` checks a new one, with one timeline entry "edited".

        A draft stays a draft: ``draft.scheduled_at`` is not used (:meth:`schedule` sets
        the time). A scheduled campaign is changed in one go with its time too: it stays
        scheduled for ``draft.scheduled_at``, or goes back to draft when that is None
        ("now": the caller starts it). ValidationError for any other status: one that
        started or finished cannot change."""
        current = await self._worker.run(self.repo.get, campaign_id)
        if current.status not in (_C.DRAFT, _C.SCHEDULED):
            raise ValidationError(
                f"“{current.name}” is {current.status.value}: only a draft or a scheduled "
                "campaign can be changed.",
                what_to_do="To send it again with changes, duplicate it.",
            )
        window_policy = await self._check_message(
            group_ids=draft.group_ids,
            template_id=draft.template_id,
            freeform_template_id=draft.freeform_template_id,
            variable_mapping=draft.variable_mapping,
            window_policy=draft.window_policy,
        )
        if draft.missed_after_hours < 1:
            raise ValidationError("“Skip if later than” needs at least 1 hour.")
        at = draft.scheduled_at
        if at is not None and (at.tzinfo is None or at.utcoffset() is None):
            raise ValidationError("The scheduled time needs a time zone.")
        changed = Campaign(
            id=campaign_id,
            name=draft.name,
            account_id=draft.account_id,
            template_id=draft.template_id,
            freeform_template_id=draft.freeform_template_id,
            variable_mapping=dict(draft.variable_mapping),
            audience={
                **current.audience,
                "group_ids": list(draft.group_ids),
                "exclude_opted_out": draft.exclude_opted_out,
            },
            window_policy=window_policy,
            missed_schedule_policy=MissedSchedulePolicy(draft.missed_schedule_policy),
            missed_after_hours=draft.missed_after_hours,
            pacing=draft.pacing(),
        )
        if current.status is _C.DRAFT:
            updated = await self._worker.run(
                lambda: self.repo.update_draft(changed, cause="user", detail="edited")
            )
        else:
            at = None if at is None else at.astimezone(UTC)
            if at is None:
                detail = "edited; schedule removed (back to draft)"
            elif at != current.scheduled_at:
                detail = f"edited; now scheduled for {local_time(at)}"
            else:
                detail = "edited"
            updated = await self._worker.run(
                lambda: self.repo.update_scheduled(changed, at=at, cause="user", detail=detail)
            )
        self._changed(campaign_id)
        return updated

    async def delete(self, campaign_id: int) -> str:
        """Delete a draft (it has sent nothing); returns its name. ValidationError for any
        other status: those keep their history (cancel a scheduled one instead)."""
        name = await self._worker.run(self.repo.delete_draft, campaign_id)
        self._changed(campaign_id)
        return name

    async def _check_message(
        self,
        *,
        group_ids: list[int],
        template_id: int | None,
        freeform_template_id: int | None,
        variable_mapping: dict[str, dict[str, str]],
        window_policy: WindowPolicy | None,
    ) -> WindowPolicy:
        """Refuse a message that cannot be sent as set up (see :meth:`create`); the window
        policy to store."""
        mapping = mapping_from_dict(variable_mapping)
        if template_id is None and freeform_template_id is None:
            raise ValidationError("A campaign needs an approved template or a free-form message.")
        if not group_ids:
            raise ValidationError("A campaign needs at least one group of recipients.")
        for template_ref, kind in (
            (template_id, TemplateKind.APPROVED),
            (freeform_template_id, TemplateKind.FREEFORM),
        ):
            if template_ref is None:
                continue
            template = await self._worker.run(self._db.templates.get, template_ref)
            if template.kind is not kind:
                raise ValidationError(f"“{template.name}” is not a {kind.value} message.")
            if kind is TemplateKind.APPROVED and template.status.upper() != "APPROVED":
                raise ValidationError(
                    f"The template “{template.name}” is {template.status or 'not approved'}.",
                    what_to_do="Choose an approved template, or wait for its approval.",
                )
            missing = [n for n in parse_placeholders(template.body).names if n not in mapping]
            if missing:
                raise ValidationError(
                    f"“{template.name}” uses {', '.join('{{' + n + '}}' for n in missing)}, "
                    "which the variable mapping does not fill."
                )
        if window_policy is None:
            window_policy = (
                WindowPolicy.TEMPLATE_ONLY
                if freeform_template_id is None
                else WindowPolicy.FREEFORM_IN_WINDOW
                if template_id is not None
                else WindowPolicy.FREEFORM_ONLY
            )
        return window_policy

    async def duplicate(self, campaign_id: int, *, name: str | None = None) -> Campaign:
        """A new draft with the same audience, message, mapping, policy and pace."""
        old = await self._worker.run(self.repo.get, campaign_id)
        copy = Campaign(
            name=name or f"{old.name} (copy)",
            account_id=old.account_id,
            template_id=old.template_id,
            freeform_template_id=old.freeform_template_id,
            variable_mapping=old.variable_mapping,
            audience=old.audience,
            window_policy=old.window_policy,
            missed_schedule_policy=old.missed_schedule_policy,
            missed_after_hours=old.missed_after_hours,
            pacing=old.pacing,
        )
        created = await self._worker.run(self.repo.add, copy)
        assert created.id is not None
        self._changed(created.id)
        return created

    # --- actions -----------------------------------------------------------------------

    async def schedule(
        self,
        campaign_id: int,
        at: datetime,
        *,
        missed_policy: MissedSchedulePolicy = MissedSchedulePolicy.ASK,
        missed_after_hours: int = 6,
        note: str = "",
    ) -> Campaign:
        """A draft becomes ``scheduled``: the scheduler starts it at ``at`` (an aware time),
        and applies ``missed_policy`` if waapp was closed then. ``note`` leads the timeline
        entry (“edited”), whose time is in the user's local time."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValidationError("The scheduled time needs a time zone.")
        if missed_after_hours < 1:
            raise ValidationError("“Skip if later than” needs at least 1 hour.")
        at = at.astimezone(UTC)
        policy = MissedSchedulePolicy(missed_policy)
        await self._worker.run(
            self.repo.schedule,
            campaign_id,
            at,
            policy=policy,
            after_hours=missed_after_hours,
            cause="user",
            detail=(f"{note}; " if note else "") + f"scheduled for {local_time(at)}",
        )
        self._changed(campaign_id)
        return await self._worker.run(self.repo.get, campaign_id)

    async def unschedule(
        self, campaign_id: int, *, cause: str = "user", detail: str = "schedule removed"
    ) -> Campaign:
        """A ``scheduled`` campaign back to ``draft`` (to edit it, or schedule it again)."""
        campaign = await self._worker.run(self.repo.get, campaign_id)
        if campaign.status is not _C.SCHEDULED:
            raise ValidationError(f"“{campaign.name}” is {campaign.status.value}, not scheduled.")
        await self._worker.run(self.repo.unschedule, campaign_id, cause=cause, detail=detail)
        self._changed(campaign_id)
        return await self._worker.run(self.repo.get, campaign_id)

    async def start(
        self, campaign_id: int, *, run: bool = True, cause: str = "user", note: str = ""
    ) -> Campaign:
        """Freeze the recipients (rows with their variables and route, or skipped with the
        reason), move the campaign to ``sending`` and start its runner (with ``run`` False,
        the engine picks it up at its next start: the command line without ``--wait``).
        ``note`` leads the timeline entry (the scheduler's "started late …")."""
        campaign = await self._worker.run(self.repo.get, campaign_id)
        template = (
            await self._worker.run(self._db.templates.get, campaign.template_id)
            if campaign.template_id is not None
            else None
        )
        freeform = (
            await self._worker.run(self._db.templates.get, campaign.freeform_template_id)
            if campaign.freeform_template_id is not None
            else None
        )
        audience = await self._worker.run(
            self.repo.audience, [int(g) for g in campaign.audience.get("group_ids", [])]
        )
        try:
            dialect: Dialect | None = (await self._provider_for(campaign.account_id)).dialect
        except WaappError:
            dialect = None  # the runner pauses the campaign with the reason
        planned = plan_messages(
            audience,
            mapping=mapping_from_dict(campaign.variable_mapping),
            template=template,
            freeform=freeform,
            policy=campaign.window_policy,
            exclude_opted_out=bool(campaign.audience.get("exclude_opted_out", True)),
            now=datetime.now(UTC),
            window=window_applies(dialect),
        )
        skipped = sum(1 for p in planned if p.skipped_reason)
        await self._worker.run(
            self.repo.begin_sending,
            campaign_id,
            planned,
            cause=cause,
            detail=(f"{note}; " if note else "")
            + f"started: {len(planned)} recipient(s), {skipped} skipped",
        )
        if run:
            self.engine.run(campaign_id)
        self._changed(campaign_id)
        return await self._worker.run(self.repo.get, campaign_id)

    async def pause(self, campaign_id: int, *, detail: str = "paused") -> None:
        """Persist ``paused`` (no claim succeeds after it), then drain the requests in flight.
        ``detail`` is the timeline's word for why (“paused when waapp was quit”)."""
        await self._worker.run(
            self.repo.set_status, campaign_id, _C.PAUSED, cause="user", detail=detail
        )
        await self.engine.stop_campaign(campaign_id)
        self._changed(campaign_id)

    async def pause_all(self, detail: str = "paused") -> list[Campaign]:
        """:meth:`pause` every campaign sending now (each drains its requests in flight),
        with ``detail`` on their timelines; the campaigns paused, as they are then. One
        that finished or was paused meanwhile is left as it is."""
        paused: list[Campaign] = []
        for campaign_id in await self._worker.run(self.repo.campaigns_in, _C.SENDING):
            change = await self._worker.run(
                self.repo.set_status,
                campaign_id,
                _C.PAUSED,
                cause="user",
                detail=detail,
                only_from=[_C.SENDING],
            )
            if change is None:
                continue  # finished or paused meanwhile
            await self.engine.stop_campaign(campaign_id)
            self._changed(campaign_id)
            paused.append(await self._worker.run(self.repo.get, campaign_id))
        return paused

    async def resume(self, campaign_id: int, *, run: bool = True) -> None:
        """Persist ``sending`` and work the campaign again (from paused, or failed).
        ValidationError for any other status: a completed campaign is sent again only
        through :meth:`retry_failed`, which never re-sends a delivered message."""
        campaign = await self._worker.run(self.repo.get, campaign_id)
        if campaign.status not in (_C.PAUSED, _C.FAILED):
            finished = campaign.status.is_final
            raise ValidationError(
                f"“{campaign.name}” is {campaign.status.value}: only a paused or failed "
                "campaign can be resumed.",
                what_to_do=(
                    "Use “Retry failed” to send again to the recipients who failed, or "
                    "duplicate the campaign."
                    if finished
                    else "It is sending already."
                    if campaign.status is _C.SENDING
                    else "Start it instead."
                ),
            )
        await self.engine.stop_campaign(campaign_id)  # a draining runner finishes first
        await self._worker.run(
            self.repo.set_status,
            campaign_id,
            _C.SENDING,
            cause="user",
            detail="resumed",
        )
        if run:
            self.engine.run(campaign_id)
        self._changed(campaign_id)

    async def cancel(self, campaign_id: int) -> int:
        """Cancel: pending and waiting recipients become ``cancelled`` (how many returned);
        requests in flight finish and are written."""
        count = await self._worker.run(
            self.repo.cancel, campaign_id, cause="user", detail="cancelled"
        )
        await self.engine.stop_campaign(campaign_id)
        self._changed(campaign_id)
        return count

    async def retry_failed(
        self, campaign_id: int, *, codes: list[str] | None = None, run: bool = True
    ) -> int:
        """Queue the failed recipients again (only those with ``codes`` when given) and send
        the campaign again; returns how many. Delivered recipients are never touched."""
        await self.engine.stop_campaign(campaign_id)
        count = await self._worker.run(
            self.repo.retry_failed, campaign_id, codes=codes, cause="user"
        )
        if count and run:
            self.engine.run(campaign_id)
        self._changed(campaign_id)
        return count

    async def resolve_unknown(
        self, campaign_id: int, message_ids: list[int], *, send_again: bool
    ) -> int:
        """The user's word on ``unknown`` recipients: "send again" queues them (resume the
        campaign to send), otherwise they are marked as sent."""
        count = await self._worker.run(
            self.repo.resolve_unknown, campaign_id, message_ids, send_again=send_again
        )
        self._changed(campaign_id)
        return count

    # --- before starting ---------------------------------------------------------------

    async def preflight(
        self, draft: CampaignDraft, *, health: HealthReport | None = None
    ) -> PreflightReport:
        """What the campaign ``draft`` would do if started now (``preflight`` module);
        writes nothing. ``health``: the account's last health check, when there is one."""
        return await run_preflight(
            draft,
            db=self._db,
            worker=self._worker,
            repo=self.repo,
            provider_for=self._provider_for,
            health=health,
        )

    async def audience_size(self, group_ids: list[int]) -> tuple[int, int]:
        """(contacts in any of ``group_ids``, each once; how many of them opted out)."""
        audience = await self._worker.run(self.repo.audience, group_ids)
        return len(audience), sum(1 for c in audience if c.opted_out)

    async def test_send(self, draft: CampaignDraft, phone: str) -> TestSendOutcome:
        """Send the real message of ``draft`` to ``phone`` now (``preflight.send_test``);
        nothing is written to the campaign. Never raises for a refusal: the outcome says."""
        return await send_test(
            draft,
            phone,
            db=self._db,
            worker=self._worker,
            repo=self.repo,
            provider_for=self._provider_for,
        )

    # --- reading -----------------------------------------------------------------------

    async def show(self, campaign_id: int) -> CampaignReport:
        campaign = await self._worker.run(self.repo.get, campaign_id)
        counts = await self._worker.run(self.repo.recount, campaign_id)
        timeline = await self._worker.run(self.repo.events, campaign_id)
        return CampaignReport(campaign, counts, timeline)

    async def list(self, status: CampaignStatus | None = None) -> list[Campaign]:
        return await self._worker.run(self.repo.list, status)

    async def wait(self, campaign_id: int) -> Campaign:
        """Until the campaign's runner (if any) has stopped; the campaign as it is then."""
        await self.engine.wait(campaign_id)
        return await self._worker.run(self.repo.get, campaign_id)

    async def note(self, campaign_id: int, *, cause: str, detail: str) -> None:
        """A timeline entry without a status change."""
        await self._worker.run(self.repo.note, campaign_id, cause=cause, detail=detail)
        self._changed(campaign_id)

    def _changed(self, campaign_id: int) -> None:
        self._bus.publish(CampaignChanged(campaign_id))
