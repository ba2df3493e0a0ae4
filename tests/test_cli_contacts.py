"""``waapp contacts import`` / ``export``, run as a user runs them (``python -m waapp``)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl


def waapp(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "waapp", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )


def clients(path: Path) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Clientes"
    for row in [
        ["Lista de clientes"],
        ["Nombre", "Celular", "Ciudad"],
        ["Ana López", "55 1234 5678", "CDMX"],
        ["Beto", 5215512345679.0, "GDL"],
        ["Ana otra vez", "+52 55 1234 5678", ""],
        ["Mal", "123", ""],
    ]:
        sheet.append(row)
    workbook.save(path)
    return path


def exported(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines(keepends=True)))


def test_import_json_totals_then_export(tmp_path: Path) -> None:
    data, file = tmp_path / "data", clients(tmp_path / "clientes.xlsx")
    result = waapp(
        data, "contacts", "import", str(file), "--region", "mx", "--group", "Mayo", "--json"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {
        k: report[k] for k in ("imported", "updated", "unchanged", "duplicates", "invalid")
    } == {
        "imported": 2,
        "updated": 0,
        "unchanged": 0,
        "duplicates": 1,
        "invalid": 1,
    }
    assert report["invalid_rows"] == [
        {
            "row": 6,
            "phone": "123",
            "e164": None,
            "name": "Mal",
            "reason": "too short for Mexico (123)",
        }
    ]
    assert (report["group"], report["group_created"]) == ("Mayo", True)

    again = waapp(
        data, "contacts", "import", str(file), "--region", "MX", "--json", "--keep-existing"
    )
    assert json.loads(again.stdout)["unchanged"] == 2

    out = tmp_path / "mayo.csv"
    exporting = waapp(data, "contacts", "export", str(out), "--group", "mayo")
    assert exporting.returncode == 0, exporting.stderr
    assert exporting.stdout.strip() == f"Exported 2 contacts to {out}"
    assert {r["Phone"]: r["Name"] for r in exported(out)} == {
        "+525512345678": "Ana López",
        "+525512345679": "Beto",
    }


def test_dry_run_writes_nothing_and_the_summary_is_readable(tmp_path: Path) -> None:
    data, file = tmp_path / "data", clients(tmp_path / "clientes.xlsx")
    result = waapp(data, "contacts", "import", str(file), "--region", "MX", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert (
        "new contacts: 2" in result.stdout
        and "row 6: 123 — too short for Mexico (123)" in result.stdout
    )
    assert "Nothing was written" in result.stdout
    out = tmp_path / "all.csv"
    assert waapp(data, "contacts", "export", str(out)).returncode == 0
    assert exported(out) == []


def test_map_by_header_letter_and_number(tmp_path: Path) -> None:
    data = tmp_path / "data"
    names = tmp_path / "names.csv"
    names.write_text("Who,Where\nAsha,Pune\n", encoding="utf-8")
    refused = waapp(data, "contacts", "import", str(names))
    assert refused.returncode == 1
    assert "no column of names.csv looks like phone numbers" in refused.stderr
    assert "A “Who”, B “Where”" in refused.stderr and "--map phone=COLUMN" in refused.stderr

    file = tmp_path / "odd.csv"  # two columns of numbers, no header words: the guess takes B
    file.write_text(
        "Who,Office,Reach me at,Where\nAsha,+91 20 2612 3456,+91 70330 09600,Pune\n",
        encoding="utf-8",
    )
    result = waapp(
        data,
        "contacts",
        "import",
        str(file),
        "--map",
        "phone=reach me at",
        "--map",
        "name=A",
        "--map",
        "Town=4",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["imported"] == 1
    out = tmp_path / "out.csv"
    waapp(data, "contacts", "export", str(out))
    assert exported(out)[0] | {"Added": ""} == {
        "Name": "Asha",
        "Phone": "+917033009600",
        "Town": "Pune",
        "Opted out": "",
        "Opt-out reason": "",
        "Last reply": "",
        "Added": "",
    }


def test_refusals_exit_1_with_the_reason_on_stderr(tmp_path: Path) -> None:
    data = tmp_path / "data"
    garbage = tmp_path / "garbage.xlsx"
    garbage.write_bytes(os.urandom(4000))
    cases = [
        (("contacts", "import", str(garbage)), "is not a spreadsheet waapp can read"),
        (("contacts", "import", str(tmp_path / "missing.csv")), "does not exist"),
        (
            ("contacts", "import", str(clients(tmp_path / "c.xlsx")), "--region", "ZZ"),
            "not a country code",
        ),
        (
            ("contacts", "import", str(tmp_path / "c.xlsx"), "--sheet", "Nope"),
            "no sheet called “Nope”",
        ),
        (
            ("contacts", "import", str(tmp_path / "c.xlsx"), "--map", "phone"),
            "--map needs FIELD=COLUMN",
        ),
        (
            ("contacts", "import", str(tmp_path / "c.xlsx"), "--map", "phone=Q"),
            "there is no column “Q”",
        ),
        (
            ("contacts", "export", str(tmp_path / "x.csv"), "--group", "Nope"),
            "no group called “Nope”",
        ),
        (("contacts", "export", str(tmp_path / "x.pdf")), "exports to .xlsx or .csv"),
    ]
    for args, says in cases:
        result = waapp(data, *args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert says in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_update_and_keep_existing_are_exclusive(tmp_path: Path) -> None:
    result = waapp(tmp_path, "contacts", "import", "x.csv", "--update", "--keep-existing")
    assert result.returncode == 2 and "not allowed with argument" in result.stderr
