"""The import use cases on a real store, no Qt: preview verdicts, both policies, groups,
opt-outs, remembered mappings, cancel, where the work runs, and the report."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from waapp.app import Services
from waapp.core.errors import NotFound, StoreError, ValidationError
from waapp.core.ports import ContactQuery
from waapp.core.progress import Cancelled, CancelToken
from waapp.services.events import ContactsChanged, GroupsChanged
from waapp.services.importer import (
    MAPPING_KEY_PREFIX,
    PROGRESS_TOTAL,
    ImportOptions,
    UpdatePolicy,
    Verdict,
)
from waapp.services.spreadsheet import ColumnMapping, layout_key
from waapp.store.imports import ImportPlan, ImportRepository, Snapshot

State = Callable[[Services], Awaitable[dict[str, list[tuple[Any, ...]]]]]
Run = Callable[[Callable[[Services], Awaitable[Any]]], Any]

HEADERS = ["Name", "Mobile", "City", "Tier"]


def xlsx(path: Path, rows: list[list[object]]) -> Path:
    workbook = openpyxl.Workbook()
    workbook.active.title = "Clients"
    for row in rows:
        workbook.active.append(row)
    workbook.save(path)
    return path


def options_for(info: Any, **overrides: Any) -> ImportOptions:
    values: dict[str, Any] = {
        "sheet": info.sheet,
        "header_row": info.header_row,
        "mapping": info.mapping,
        "region": "IN",
    }
    values.update(overrides)
    return ImportOptions(**values)


async def seed(s: Services) -> dict[str, int]:
    """Three stored contacts: one to update, one already up to date, one opted out."""
    ravi = await s.contacts.add_contact(
        name="Ravi", phone="+917033009601", fields={"City": "Delhi", "Since": "2020"}
    )
    meera = await s.contacts.add_contact(
        name="Meera", phone="+917033009602", fields={"City": "Pune", "Tier": "Gold"}
    )
    sana = await s.contacts.add_contact(name="Sana", phone="+917033009603", fields={"City": "Agra"})
    await s.contacts.set_opt_out([sana.id], opted_out=True, reason="replied STOP")
    return {"ravi": ravi.id, "meera": meera.id, "sana": sana.id}


def sample_file(tmp_path: Path) -> Path:
    return xlsx(
        tmp_path / "clients.xlsx",
        [
            HEADERS,
            ["  Asha   Patel ", "+91 70330 09600", "Pune", "Silver"],  # 2 new
            ["Ravi Kumar", "07033009601", "Mumbai", ""],  # 3 update: name, City; Since kept
            ["Meera", "917033009602", "Pune", "Gold"],  # 4 unchanged
            ["", "+917033009603", "Agra", "Bronze"],  # 5 opted out
            ["Asha again", "7033009600", "", ""],  # 6 duplicate of row 2
            ["Nobody", "12345", "", ""],  # 7 invalid
            [None, None, None, None],  # 8 blank: ignored
            ["No number", None, "Goa", ""],  # 9 invalid: no phone number
        ],
    )


def test_preview_gives_every_verdict_and_writes_nothing(
    tmp_path: Path, run_services: Run, state: State
) -> None:
    path = sample_file(tmp_path)

    async def body(s: Services) -> None:
        await seed(s)
        before = await state(s)
        info = await s.importer.inspect(path)
        assert info.mapping == ColumnMapping(phone=1, name=0, fields={2: "City", 3: "Tier"})
        assert not info.remembered and info.sheets == ["Clients"] and info.total_rows_hint == 8
        rows, totals = await s.importer.preview(path, options_for(info, new_group_name="May"))
        assert [(r.row_number, r.verdict) for r in rows] == [
            (2, Verdict.NEW),
            (3, Verdict.UPDATE),
            (4, Verdict.UNCHANGED),
            (5, Verdict.OPTED_OUT),
            (6, Verdict.DUPLICATE_IN_FILE),
            (7, Verdict.INVALID),
            (9, Verdict.INVALID),
        ]
        by_row = {r.row_number: r for r in rows}
        assert (by_row[2].name, by_row[2].e164, by_row[2].phone_input) == (
            "Asha Patel",
            "+917033009600",
            "+91 70330 09600",
        )
        assert by_row[3].reason == "name, City updated"
        assert by_row[5].reason == "opted out: stays opted out; Tier updated"
        assert by_row[6].reason == "the same number as row 2"
        assert by_row[7].reason == "too short for India (12345)"
        assert by_row[9].reason == "no phone number"
        assert (
            totals.imported,
            totals.updated,
            totals.unchanged,
            totals.opted_out,
            totals.duplicates,
            totals.invalid,
        ) == (1, 1, 1, 1, 1, 2)
        assert totals.preview and totals.rows_read == 7
        assert (totals.group_name, totals.group_created) == ("May", True)
        assert [r.row_number for r in totals.rows] == [5, 6, 7, 9]  # only what needs a look
        rows, _ = await s.importer.preview(path, options_for(info), limit=2)
        assert len(rows) == 2
        assert await state(s) == before

    run_services(body)


def test_update_policy_merges_fields_and_keeps_opt_outs(tmp_path: Path, run_services: Run) -> None:
    path = sample_file(tmp_path)

    async def body(s: Services) -> None:
        ids = await seed(s)
        info = await s.importer.inspect(path)
        report = await s.importer.run(path, options_for(info))
        assert (report.imported, report.updated, report.unchanged, report.opted_out) == (1, 1, 1, 1)
        assert (report.duplicates, report.invalid, report.rows_read) == (1, 2, 7)
        ravi = await s.contacts.get(ids["ravi"])
        # Imported values overwrite same-named fields, others stay; an empty cell changes nothing.
        assert (ravi.name, ravi.fields) == ("Ravi Kumar", {"City": "Mumbai", "Since": "2020"})
        sana = await s.contacts.get(ids["sana"])
        assert sana.opted_out and sana.opt_out_reason == "replied STOP"
        assert (sana.name, sana.fields) == (
            "Sana",
            {"City": "Agra", "Tier": "Bronze"},
        )  # empty name kept
        assert await s.contacts.count(ContactQuery()) == 4

    run_services(body)


def test_keep_existing_policy_leaves_stored_contacts_alone(
    tmp_path: Path, run_services: Run, state: State
) -> None:
    path = sample_file(tmp_path)

    async def body(s: Services) -> None:
        await seed(s)
        before = {row[1]: row for row in (await state(s))["contacts"]}
        info = await s.importer.inspect(path)
        report = await s.importer.run(path, options_for(info, policy=UpdatePolicy.KEEP))
        assert (report.imported, report.updated, report.unchanged, report.opted_out) == (1, 0, 2, 1)
        after = {row[1]: row for row in (await state(s))["contacts"]}
        assert set(after) == set(before) | {"+917033009600"}
        assert all(after[phone] == before[phone] for phone in before)

    run_services(body)


def test_everyone_named_validly_joins_a_new_or_existing_group(
    tmp_path: Path, run_services: Run
) -> None:
    path = sample_file(tmp_path)

    async def body(s: Services) -> None:
        await seed(s)
        info = await s.importer.inspect(path)
        report = await s.importer.run(path, options_for(info, new_group_name="  May   fair "))
        assert (report.group_name, report.group_created) == ("May fair", True)
        groups = {g.name: g for g in await s.contacts.groups()}
        assert groups["May fair"].member_count == 4  # new, updated, unchanged and opted out
        # The same name in another case is the same group; nobody is added twice.
        again = await s.importer.run(path, options_for(info, new_group_name="MAY FAIR"))
        assert (again.group_name, again.group_created) == ("May fair", False)
        assert [g.member_count for g in await s.contacts.groups()] == [4]
        other = await s.contacts.create_group("Other")
        await s.importer.run(path, options_for(info, group_id=other.id, new_group_name="ignored"))
        assert {g.name: g.member_count for g in await s.contacts.groups()} == {
            "May fair": 4,
            "Other": 4,
        }
        await s.contacts.delete_group(other.id)
        with pytest.raises(NotFound):
            await s.importer.run(path, options_for(info, group_id=other.id))

    run_services(body)


def test_a_file_can_opt_out_but_never_opt_in(tmp_path: Path, run_services: Run) -> None:
    path = xlsx(
        tmp_path / "consent.xlsx",
        [
            ["Name", "Phone", "Opted out", "Opt-out reason"],
            ["New and out", "+447911100001", "Yes", "asked at the till"],
            ["Stored, goes out", "+447911100002", "x", ""],
            ["Stored opted out, file says no", "+447911100003", "No", ""],
            ["New and in", "+447911100004", "", ""],
        ],
    )

    async def body(s: Services) -> None:
        stays = await s.contacts.add_contact(name="B", phone="+447911100002")
        out = await s.contacts.add_contact(name="C", phone="+447911100003")
        await s.contacts.set_opt_out([out.id], opted_out=True, reason="STOP")
        info = await s.importer.inspect(path)
        assert info.mapping is not None and (info.mapping.opt_out, info.mapping.opt_out_reason) == (
            2,
            3,
        )
        report = await s.importer.run(path, options_for(info, region="GB"))
        assert (report.imported, report.updated, report.opted_out) == (2, 1, 1)
        contacts = {
            c.phone_e164: c for c in await s.contacts.get_many(await s.contacts.ids(ContactQuery()))
        }
        assert (
            contacts["+447911100001"].opted_out
            and contacts["+447911100001"].opt_out_reason == "asked at the till"
        )
        assert contacts["+447911100002"].opted_out and contacts["+447911100002"].opt_out_reason
        assert (
            contacts["+447911100003"].opted_out
            and contacts["+447911100003"].opt_out_reason == "STOP"
        )
        assert not contacts["+447911100004"].opted_out
        assert stays.id == contacts["+447911100002"].id

    run_services(body)


def test_the_mapping_is_remembered_per_layout(tmp_path: Path, run_services: Run) -> None:
    first = xlsx(
        tmp_path / "march.xlsx", [["Client", "Tel", "Ref"], ["Asha", "+917033009600", "A1"]]
    )
    second = xlsx(
        tmp_path / "april.xlsx", [[" client", "TEL ", "ref"], ["Ravi", "+917033009601", "B2"]]
    )
    other = xlsx(tmp_path / "other.xlsx", [["Client", "Tel"], ["Meera", "+917033009602"]])

    async def body(s: Services) -> None:
        info = await s.importer.inspect(first)
        assert info.mapping == ColumnMapping(phone=1, name=0, fields={2: "Ref"})
        chosen = ColumnMapping(phone=1, name=None, fields={0: "Company", 2: "Reference"})
        await s.importer.run(first, options_for(info, mapping=chosen))
        stored = await s.worker.run(
            s.db.settings.get, MAPPING_KEY_PREFIX + layout_key(info.headers)
        )
        assert stored["headers"] == ["Client", "Tel", "Ref"]
        again = await s.importer.inspect(second)  # same layout, other spelling
        assert again.remembered and again.mapping == chosen
        assert not (await s.importer.inspect(other)).remembered

    run_services(body)


def test_run_publishes_and_works_off_the_loop(tmp_path: Path, run_services: Run) -> None:
    path = sample_file(tmp_path)

    async def body(s: Services) -> None:
        events: list[object] = []
        s.bus.subscribe(ContactsChanged, events.append)
        s.bus.subscribe(GroupsChanged, events.append)
        info = await s.importer.inspect(path)
        calls: list[tuple[int, str]] = []

        def progress(done: int, total: int) -> None:
            assert total == PROGRESS_TOTAL
            calls.append((done, threading.current_thread().name))

        loop_thread = threading.current_thread().name
        await s.importer.run(path, options_for(info), progress=progress)
        assert events == [ContactsChanged(None), GroupsChanged()]
        done = [d for d, _ in calls]
        assert done == sorted(done) and done[-1] == PROGRESS_TOTAL
        reading = {name for d, name in calls[1:] if d < 850}  # the first call is from run() itself
        writing = {name for d, name in calls[:-1] if d > 850}  # the last call is from run() itself
        assert (
            reading
            and loop_thread not in reading
            and not any(n.startswith("waapp-db") for n in reading)
        )
        assert writing and all(n.startswith("waapp-db") for n in writing)

    run_services(body)


def test_cancel_before_and_during(tmp_path: Path, run_services: Run, state: State) -> None:
    path = sample_file(tmp_path)

    async def body(s: Services) -> None:
        await seed(s)
        before = await state(s)
        info = await s.importer.inspect(path)
        token = CancelToken()
        token.cancel()
        with pytest.raises(Cancelled):
            await s.importer.run(path, options_for(info, new_group_name="G"), cancel=token)
        assert await state(s) == before

    run_services(body)


def test_options_are_checked(tmp_path: Path, run_services: Run) -> None:
    path = sample_file(tmp_path)

    async def body(s: Services) -> None:
        info = await s.importer.inspect(path)
        with pytest.raises(ValidationError, match="not a country code"):
            await s.importer.preview(path, options_for(info, region="XX"))
        with pytest.raises(ValidationError, match="does not exist"):
            await s.importer.run(path, options_for(info, mapping=ColumnMapping(phone=-1)))
        # Without a default country, national numbers get the core's reason.
        rows, _ = await s.importer.preview(path, options_for(info, region=None))
        assert rows[1].verdict is Verdict.INVALID and "country code" in rows[1].reason

    run_services(body)


def test_a_store_that_changed_during_the_import_is_planned_again(
    tmp_path: Path, run_services: Run
) -> None:
    async def body(s: Services) -> None:
        repo = ImportRepository(s.db.engine)
        stale = await s.worker.run(repo.snapshot)
        now = repo.now_text()
        plan = ImportPlan(
            new_rows=[("+447911100001", "A", "{}", None, None, now, now)],
            fingerprint=stale.fingerprint,
        )
        await s.contacts.add_contact(name="Meanwhile", phone="+447911100001")
        with pytest.raises(StoreError, match="changed"):
            await s.worker.run(repo.write, plan)
        seen: list[Snapshot] = []

        def replan(fresh: Snapshot) -> ImportPlan:
            seen.append(fresh)
            return ImportPlan(
                member_ids=[fresh.contacts["+447911100001"].id], fingerprint=fresh.fingerprint
            )

        outcome = await s.worker.run(repo.write, plan, new_group_name="G", replan=replan)
        assert seen and outcome.plan is not plan and outcome.added_to_group == 1
        assert await s.contacts.count(ContactQuery()) == 1

    run_services(body)


def test_report_as_json(tmp_path: Path, run_services: Run) -> None:
    path = sample_file(tmp_path)

    async def body(s: Services) -> None:
        await seed(s)
        info = await s.importer.inspect(path)
        data = (await s.importer.run(path, options_for(info))).to_dict()
        assert {
            k: data[k]
            for k in ("imported", "updated", "unchanged", "duplicates", "invalid", "opted_out")
        } == {
            "imported": 1,
            "updated": 1,
            "unchanged": 1,
            "duplicates": 1,
            "invalid": 2,
            "opted_out": 1,
        }
        assert data["invalid_rows"] == [
            {
                "row": 7,
                "phone": "12345",
                "e164": None,
                "name": "Nobody",
                "reason": "too short for India (12345)",
            },
            {"row": 9, "phone": "", "e164": None, "name": "No number", "reason": "no phone number"},
        ]
        assert [r["row"] for r in data["duplicate_rows"]] == [6]
        assert [r["row"] for r in data["opted_out_rows"]] == [5]

    run_services(body)


def test_cancelling_the_awaiting_task_rolls_back(
    tmp_path: Path, run_services: Run, state: State
) -> None:
    path = tmp_path / "big.csv"
    path.write_text(
        "Name,Phone\n" + "".join(f"P{n},+4479111{n:05d}\n" for n in range(40_000)), encoding="utf-8"
    )

    async def body(s: Services) -> None:
        before = await state(s)
        info = await s.importer.inspect(path)
        writing = asyncio.Event()
        loop = asyncio.get_running_loop()

        def progress(done: int, _total: int) -> None:
            if done > 850:
                loop.call_soon_threadsafe(writing.set)

        task = asyncio.ensure_future(
            s.importer.run(path, options_for(info, region="GB"), progress=progress)
        )
        await writing.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await s.worker.run(lambda: None)  # let the write on the worker end (it rolls back)
        assert await state(s) == before

    run_services(body)


def test_the_header_row_can_be_chosen(tmp_path: Path, run_services: Run) -> None:
    path = xlsx(
        tmp_path / "two-headers.xlsx",
        [
            ["Branch", "Region"],  # detected as the header…
            ["Name", "Phone"],  # … but the user says this one is
            ["Asha", "+917033009600"],
        ],
    )

    async def body(s: Services) -> None:
        assert (await s.importer.inspect(path)).header_row == 0
        info = await s.importer.inspect(path, header_row=1)
        assert (info.header_row, info.headers, info.sample_rows) == (
            1,
            ["Name", "Phone"],
            [["Asha", "+917033009600"]],
        )
        assert info.mapping == ColumnMapping(phone=1, name=0)
        none = await s.importer.inspect(path, "Clients", header_row=-1)
        assert none.headers == ["Column A", "Column B"] and len(none.sample_rows) == 3
        with pytest.raises(ValidationError, match="only 3 rows"):
            await s.importer.inspect(path, header_row=7)

    run_services(body)


def test_custom_field_names_the_editor_accepts(tmp_path: Path, run_services: Run) -> None:
    path = xlsx(
        tmp_path / "fields.xlsx",
        [["Name", "Phone", "Phone", "Note"], ["Asha", "+917033009600", "+912026123456", "hi"]],
    )

    async def body(s: Services) -> None:
        info = await s.importer.inspect(path)
        mapping = ColumnMapping(phone=1, name=0, fields={2: "phone", 3: " Note  "})
        await s.importer.run(path, options_for(info, mapping=mapping))
        contact = (await s.contacts.get_many(await s.contacts.ids(ContactQuery())))[0]
        assert contact.fields == {"phone (2)": "+912026123456", "Note": "hi"}
        # … so that the contact editor can save it as it is.
        await s.contacts.update_contact(
            contact.id, name=contact.name, phone=contact.phone_e164, fields=contact.fields
        )
        with pytest.raises(ValidationError, match="column D has no name"):
            await s.importer.preview(
                path, options_for(info, mapping=ColumnMapping(phone=1, fields={3: " "}))
            )

    run_services(body)
