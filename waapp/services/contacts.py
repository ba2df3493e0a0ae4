"""Contacts and groups: the use cases behind the Contacts screen and the command line.

Every database call runs on the database worker; events are published on the loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from waapp.core.entities import Contact, Group
from waapp.core.errors import InvalidPhone, ValidationError
from waapp.core.phones import normalize_phone
from waapp.core.ports import ContactQuery, ContactStore, GroupStore, SettingsStore
from waapp.services.events import ContactsChanged, EventBus, GroupsChanged, SettingsChanged
from waapp.store.worker import DatabaseWorker

DEFAULT_REGION_KEY = "default_region"


def clean_fields(fields: Mapping[str, str]) -> dict[str, str]:
    """Custom fields with names and values trimmed; empty names are refused, empty values dropped."""
    cleaned: dict[str, str] = {}
    for raw_name, raw_value in fields.items():
        name = raw_name.strip()
        value = str(raw_value).strip()
        if not name:
            if value:
                raise ValidationError(f"The custom field with value “{value}” has no name.")
            continue
        if name.lower() in {"name", "phone"}:
            raise ValidationError(
                f"“{name}” is a built-in field; choose another custom field name."
            )
        if value:
            cleaned[name] = value
    return cleaned


class ContactService:
    def __init__(
        self,
        *,
        contacts: ContactStore,
        groups: GroupStore,
        settings: SettingsStore,
        worker: DatabaseWorker,
        bus: EventBus,
    ) -> None:
        self._contacts = contacts
        self._groups = groups
        self._settings = settings
        self._worker = worker
        self._bus = bus

    # --- settings ------------------------------------------------------------------------

    async def default_region(self) -> str | None:
        value = await self._worker.run(self._settings.get, DEFAULT_REGION_KEY, None)
        return str(value) if value else None

    async def set_default_region(self, region: str | None) -> None:
        await self._worker.run(self._settings.set, DEFAULT_REGION_KEY, region)
        self._bus.publish(SettingsChanged(DEFAULT_REGION_KEY))

    # --- reading -------------------------------------------------------------------------

    async def count(self, query: ContactQuery) -> int:
        return await self._worker.run(self._contacts.count, query)

    async def ids(self, query: ContactQuery) -> list[int]:
        return await self._worker.run(self._contacts.ids, query)

    async def get_many(self, ids: Sequence[int]) -> list[Contact]:
        return await self._worker.run(self._contacts.get_many, list(ids))

    async def get(self, contact_id: int) -> Contact:
        return await self._worker.run(self._contacts.get, contact_id)

    async def field_names(self) -> list[str]:
        return await self._worker.run(self._contacts.field_names)

    async def groups(self) -> list[Group]:
        return await self._worker.run(self._groups.list)

    async def groups_of(self, contact_id: int) -> list[Group]:
        return await self._worker.run(self._groups.groups_of, contact_id)

    # --- writing contacts ----------------------------------------------------------------

    async def _normalise(self, phone: str, region: str | None) -> str:
        result = normalize_phone(phone, region or await self.default_region())
        if result.e164 is None:
            raise InvalidPhone(f"“{phone}” is not a usable WhatsApp number: {result.reason}.")
        return result.e164

    async def add_contact(
        self,
        *,
        name: str,
        phone: str,
        fields: Mapping[str, str] | None = None,
        group_ids: Sequence[int] = (),
        region: str | None = None,
    ) -> Contact:
        """Add a contact; the number is normalised with ``region`` or the default country.

        Raises InvalidPhone with the reason, or DuplicateContact naming who has the number.
        """
        now = datetime.now(UTC)
        contact = Contact(
            phone_e164=await self._normalise(phone, region),
            name=name.strip(),
            fields=clean_fields(fields or {}),
            created_at=now,
            updated_at=now,
        )
        saved = await self._worker.run(self._contacts.add, contact)
        assert saved.id is not None
        for group_id in group_ids:
            await self._worker.run(self._groups.add_members, group_id, [saved.id])
        self._bus.publish(ContactsChanged((saved.id,)))
        if group_ids:
            self._bus.publish(GroupsChanged())
        return saved

    async def update_contact(
        self,
        contact_id: int,
        *,
        name: str,
        phone: str,
        fields: Mapping[str, str],
        group_ids: Sequence[int] | None = None,
        region: str | None = None,
    ) -> Contact:
        """Save the editable fields; ``group_ids`` (when given) becomes the exact membership."""
        current = await self.get(contact_id)
        updated = replace(
            current,
            name=name.strip(),
            phone_e164=await self._normalise(phone, region),
            fields=clean_fields(fields),
            updated_at=datetime.now(UTC),
        )
        saved = await self._worker.run(self._contacts.update, updated)
        if group_ids is not None:
            await self._worker.run(self._set_membership, contact_id, set(group_ids))
            self._bus.publish(GroupsChanged())
        self._bus.publish(ContactsChanged((contact_id,)))
        return saved

    def _set_membership(self, contact_id: int, wanted: set[int]) -> None:
        current = {g.id for g in self._groups.groups_of(contact_id)}
        for group_id in wanted - current:
            self._groups.add_members(group_id, [contact_id])
        for group_id in current - wanted:
            assert group_id is not None
            self._groups.remove_members(group_id, [contact_id])

    async def delete_contacts(self, ids: Sequence[int]) -> int:
        deleted = await self._worker.run(self._contacts.delete, list(ids))
        self._bus.publish(ContactsChanged(None))
        self._bus.publish(GroupsChanged())
        return deleted

    async def set_opt_out(self, ids: Sequence[int], *, opted_out: bool, reason: str = "") -> int:
        """Opt contacts out (with a reason, dated now) or back in (reason and date cleared)."""
        if opted_out and not reason.strip():
            raise ValidationError("Say why these contacts opted out, for example “asked by phone”.")
        changed = await self._worker.run(
            self._contacts.set_opt_out,
            list(ids),
            opted_out=opted_out,
            reason=reason.strip() if opted_out else None,
            at=datetime.now(UTC) if opted_out else None,
        )
        self._bus.publish(ContactsChanged(tuple(ids)))
        return changed

    # --- groups --------------------------------------------------------------------------

    @staticmethod
    def _group_name(name: str) -> str:
        name = name.strip()
        if not name:
            raise ValidationError("A group needs a name.")
        return name

    async def create_group(self, name: str) -> Group:
        group = await self._worker.run(self._groups.create, self._group_name(name))
        self._bus.publish(GroupsChanged())
        return group

    async def rename_group(self, group_id: int, name: str) -> Group:
        group = await self._worker.run(self._groups.rename, group_id, self._group_name(name))
        self._bus.publish(GroupsChanged())
        return group

    async def delete_group(self, group_id: int) -> None:
        await self._worker.run(self._groups.delete, group_id)
        self._bus.publish(GroupsChanged())

    async def add_to_group(self, group_id: int, contact_ids: Sequence[int]) -> int:
        added = await self._worker.run(self._groups.add_members, group_id, list(contact_ids))
        self._bus.publish(GroupsChanged())
        return added

    async def remove_from_group(self, group_id: int, contact_ids: Sequence[int]) -> int:
        removed = await self._worker.run(self._groups.remove_members, group_id, list(contact_ids))
        self._bus.publish(GroupsChanged())
        self._bus.publish(ContactsChanged(None))
        return removed
