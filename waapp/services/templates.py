"""Templates: "Sync from provider", local free-form messages and drafts, and the editor's
live preview.

Synced templates are the provider's word (``store.templates`` explains the sync policy);
this service only writes local ones. The convention for free-form messages: a named
placeholder takes the value of the contact field of the same name — ``{{city}}`` is the
field “city”, and a field whose name is not a valid placeholder (“Date of birth”) is
written as its lowercase-with-underscores form (``{{date_of_birth}}``); see
:func:`placeholder_name` and :func:`freeform_mapping`. Numbered placeholders are mapped when
a campaign is built.
"""

from __future__ import annotations

import builtins
import logging
import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace

from waapp.core.entities import Account, AccountKind, Contact, Template, TemplateKind
from waapp.core.errors import ValidationError, WaappError
from waapp.core.phones import display_phone
from waapp.core.templates import (
    BUILTIN_FIELDS,
    Placeholders,
    VariableSource,
    check_limits,
    check_variable_values,
    contact_values,
    freeform_limit,
    parse_placeholders,
    placeholder_problems,
    render,
    validate_mapping,
)
from waapp.services.accounts import AccountService
from waapp.services.events import EventBus, TemplatesChanged
from waapp.store.database import Database
from waapp.store.templates import DRAFT_STATUS, SyncSummary
from waapp.store.worker import DatabaseWorker

__all__ = [
    "SAMPLE_CONTACT",
    "AccountSync",
    "Preview",
    "TemplateService",
    "freeform_mapping",
    "has_templates",
    "is_editable",
    "limit_provider",
    "placeholder_name",
    "preview",
    "summary_text",
]

log = logging.getLogger(__name__)

#: The contact the editor previews on when there are no contacts yet.
SAMPLE_CONTACT = Contact(phone_e164="+917033009600", name="Maria Gomez", fields={"city": "Pune"})

#: WhatsApp's rule for template names (Meta refuses others when a draft is submitted).
_TEMPLATE_NAME_RE = re.compile(r"[a-z0-9_]{1,512}")
_PLACEHOLDER_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Preview:
    """A message as one contact would receive it, and every problem found, in plain words.

    Placeholders without a value stay visible in ``text`` (``{{city}}``)."""

    text: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountSync:
    """One account's outcome in :meth:`TemplateService.sync_all`: a summary or an error."""

    account: Account
    summary: SyncSummary | None = None
    error: WaappError | None = None


def summary_text(summary: SyncSummary) -> str:
    """“3 added, 1 updated, 0 removed”."""
    return f"{summary.added} added, {summary.updated} updated, {summary.removed} removed"


def has_templates(account: Account) -> bool:
    """False for a WhatsApp-Web gateway (WaSender, or a Sandbox speaking its dialect)."""
    if account.kind is AccountKind.WASENDER:
        return False
    return not (
        account.kind is AccountKind.SANDBOX and account.settings.get("dialect") == "wasender"
    )


def limit_provider(account: Account | None) -> str:
    """The provider (an ``AccountKind`` value) whose free-form limit applies to ``account``.

    A Sandbox account is held to the limit of the dialect it speaks. No account: Twilio,
    the strictest, since the message may be sent through any account."""
    if account is None:
        return AccountKind.TWILIO.value
    if account.kind is AccountKind.SANDBOX:
        dialect = str(account.settings.get("dialect") or "meta")
        return AccountKind.TWILIO.value if dialect == "twilio" else AccountKind.META.value
    return AccountKind(account.kind).value


def is_editable(template: Template) -> bool:
    """Local free-form messages and drafts; synced templates are edited at the provider."""
    return template.synced_at is None


def placeholder_name(field: str) -> str | None:
    """The named placeholder that stands for contact field ``field`` in a free-form message:
    the name itself when it is a valid placeholder name, else its lowercase, accent-free
    form with underscores (“Date of birth” → ``date_of_birth``); None when nothing is left
    or it would not start with a letter."""
    if _PLACEHOLDER_NAME_RE.fullmatch(field):
        return field
    decomposed = unicodedata.normalize("NFKD", field.casefold())
    kept = "".join(
        c if c.isascii() and c.isalnum() else " "
        for c in decomposed
        if not unicodedata.combining(c)
    )
    name = "_".join(kept.split())
    return name if _PLACEHOLDER_NAME_RE.fullmatch(name) else None


def freeform_mapping(
    placeholders: Placeholders, field_names: Collection[str]
) -> dict[str, VariableSource]:
    """The free-form convention: each named placeholder → the contact field of that name
    (an exact match first, then a field whose :func:`placeholder_name` it is). A name no
    field has is still mapped to that name, so the problem says which field is missing.
    Numbered placeholders are left unmapped (a campaign maps them)."""
    by_slug: dict[str, str] = {}
    for field in (*BUILTIN_FIELDS, *field_names):
        slug = placeholder_name(field)
        if slug is not None:
            by_slug.setdefault(slug, field)
    mapping: dict[str, VariableSource] = {}
    for name in placeholders.names:
        if name.isdigit():
            continue
        field = name if name in field_names or name in BUILTIN_FIELDS else by_slug.get(name, name)
        mapping[name] = VariableSource(field=field)
    return mapping


def preview(
    body: str,
    mapping: Mapping[str, VariableSource],
    contact: Contact | None = None,
    *,
    kind: TemplateKind = TemplateKind.FREEFORM,
    provider: str | None = None,
    available_fields: Collection[str] | None = None,
) -> Preview:
    """``body`` as ``contact`` (default :data:`SAMPLE_CONTACT`) would receive it.

    Never raises: malformed placeholders, unmapped or empty values, a text over the limit
    of ``provider`` (see :func:`limit_provider`) and, for approved templates, values WhatsApp
    refuses are all problem lines. ``available_fields`` are the custom fields contacts have
    (default: ``contact``'s own)."""
    who_contact = contact or SAMPLE_CONTACT
    problems = placeholder_problems(body)
    if problems:
        return Preview(
            body, tuple(problems) + tuple(check_limits(body, kind=kind, provider=provider))
        )
    placeholders = parse_placeholders(body)
    fields = set(who_contact.fields) if available_fields is None else set(available_fields)
    problems.extend(validate_mapping(placeholders, mapping, available_fields=fields))
    values = contact_values(who_contact)
    who = who_contact.name.strip() or display_phone(who_contact.phone_e164)
    filled: dict[str, VariableSource] = {}
    resolved: dict[str, str] = {}
    for name in placeholders.names:
        token = f"{{{{{name}}}}}"
        source = mapping.get(name)
        value = ""
        if source is not None and source.field:
            value = (values.get(source.field) or "").strip()
            if not value and (source.field in fields or source.field in BUILTIN_FIELDS):
                problems.append(f"{token} is empty for {who}: their “{source.field}” is blank")
        elif source is not None and source.text is not None:
            value = source.text if source.text.strip() else ""
        if value:
            resolved[name] = value
        filled[name] = VariableSource(text=value or token)
    text = render(body, filled, {}).text
    # A text already too long as written is reported with its own length (what the editor's
    # counter shows); otherwise the length once this contact's values are filled in.
    too_long = check_limits(body, kind=kind, provider=provider)
    problems.extend(too_long or check_limits(text, kind=kind, provider=provider))
    if kind is TemplateKind.APPROVED:
        problems.extend(check_variable_values(resolved))
    return Preview(text, tuple(problems))


def _sentence(problems: builtins.list[str]) -> str:
    text = "; ".join(problems)
    return text[:1].upper() + text[1:] + "."


class TemplateService:
    def __init__(
        self,
        *,
        db: Database,
        worker: DatabaseWorker,
        bus: EventBus,
        accounts: AccountService,
    ) -> None:
        self._db = db
        self._worker = worker
        self._bus = bus
        self._accounts = accounts

    # --- reading -------------------------------------------------------------------------

    async def list(
        self, account_id: int | None = None, kind: TemplateKind | None = None
    ) -> builtins.list[Template]:
        """By name and language. With ``account_id``: that account's templates and the
        account-less local ones (usable with any account)."""
        return await self._worker.run(self._db.templates.list, account_id, kind)

    async def get(self, template_id: int) -> Template:
        """Raises NotFound."""
        return await self._worker.run(self._db.templates.get, template_id)

    # --- sync ----------------------------------------------------------------------------

    async def sync(self, account_id: int) -> SyncSummary:
        """Fetch the account's templates from its provider and make the stored ones match.

        Provider failures propagate as the provider module raised them (``WaappError``
        subclasses with what to do); a gateway account without templates is a
        ``ValidationError`` saying so."""
        account = await self._accounts.get(account_id)
        if not has_templates(account):
            raise ValidationError(
                f"“{account.name}” is a WhatsApp-Web gateway: it has no approved templates.",
                what_to_do="Write free-form messages for it with “New message”.",
            )
        provider = await self._accounts.provider(account_id)
        listed = await provider.list_templates()
        summary = await self._worker.run(self._db.templates.replace_synced, account_id, listed)
        log.info("Synced templates of account %s: %s", account_id, summary_text(summary))
        self._bus.publish(TemplatesChanged())
        return summary

    async def sync_all(self) -> builtins.list[AccountSync]:
        """Sync every account that has templates; one account's failure does not stop the
        others (it is reported in its :class:`AccountSync`)."""
        results: builtins.list[AccountSync] = []
        for account in await self._accounts.list():
            if account.id is None or not has_templates(account):
                continue
            try:
                results.append(AccountSync(account, summary=await self.sync(account.id)))
            except WaappError as error:
                results.append(AccountSync(account, error=error))
        return results

    # --- local messages and drafts ---------------------------------------------------------

    async def _account(self, account_id: int | None) -> Account | None:
        return None if account_id is None else await self._accounts.get(account_id)

    async def limit_for(self, account_id: int | None) -> int:
        """The longest free-form body the account's provider accepts (1,600 without one)."""
        return freeform_limit(limit_provider(await self._account(account_id)))

    async def save_freeform(
        self,
        *,
        template_id: int | None,
        name: str,
        body: str,
        account_id: int | None = None,
        kind: TemplateKind = TemplateKind.FREEFORM,
        language: str | None = None,
        category: str | None = None,
    ) -> Template:
        """Add (``template_id`` None) or save a local free-form message, or a draft of an
        approved template (``kind`` APPROVED, stored with status DRAFT). ``language`` and
        ``category`` None keep what a saved template has.

        Raises ValidationError for an empty name, a draft name WhatsApp would refuse,
        malformed placeholders, or a body over the provider's limit (1,600 characters when
        no account is chosen); DuplicateName; and for a synced template, the store's
        refusal."""
        kind = TemplateKind(kind)
        name = name.strip()
        if not name:
            raise ValidationError("Give the message a name, for example “Order ready”.")
        if kind is TemplateKind.APPROVED and not _TEMPLATE_NAME_RE.fullmatch(name):
            raise ValidationError(
                f"“{name}” cannot be a WhatsApp template name: WhatsApp accepts lowercase "
                "letters, digits and underscores only.",
                what_to_do="Write it like order_ready or diwali_offer_2025.",
            )
        placeholders = parse_placeholders(body)  # ValidationError listing every problem
        account = await self._account(account_id)
        too_long = check_limits(body, kind=kind, provider=limit_provider(account))
        if too_long:
            raise ValidationError(_sentence(too_long), what_to_do="Shorten the message.")
        if template_id is None:
            template = Template(account_id=account_id, kind=kind, name=name, body=body)
        else:
            template = await self.get(template_id)
        template = replace(
            template,
            account_id=account_id,
            kind=kind,
            name=name,
            body=body,
            language=template.language if language is None else language.strip(),
            category=template.category if category is None else category.strip().upper(),
            placeholder_format=placeholders.format,
            status=DRAFT_STATUS if kind is TemplateKind.APPROVED else "",
        )
        repository = self._db.templates
        saved = await self._worker.run(
            repository.add if template_id is None else repository.update, template
        )
        self._bus.publish(TemplatesChanged())
        return saved

    async def delete(self, template_id: int) -> None:
        """Delete a local message or draft, or a synced template the provider no longer
        lists. Refused while a campaign uses it, and for live synced templates."""
        await self._worker.run(self._db.templates.delete, template_id)
        self._bus.publish(TemplatesChanged())

    # --- the editor ----------------------------------------------------------------------

    @staticmethod
    def preview(
        body: str,
        mapping: Mapping[str, VariableSource],
        contact: Contact | None = None,
        *,
        kind: TemplateKind = TemplateKind.FREEFORM,
        provider: str | None = None,
        available_fields: Collection[str] | None = None,
    ) -> Preview:
        """See :func:`preview`."""
        return preview(
            body,
            mapping,
            contact,
            kind=kind,
            provider=provider,
            available_fields=available_fields,
        )
