"""Reading spreadsheets as the user sees them, the header, the mapping guesses; hypothesis
on the CSV reader. Fixture files are generated in ``tmp_path``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from waapp.services.spreadsheet import (
    NO_HEADER,
    ColumnMapping,
    SpreadsheetError,
    cell_text,
    column_label,
    detect_header_row,
    guess_mapping,
    layout_key,
    list_sheets,
    normalise_header,
    read_rows,
)


def write_xlsx(path: Path, rows: list[list[object]], *, title: str = "Sheet1") -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def write_ods(path: Path, sheet: str, rows: list[list[str | float]]) -> Path:
    """A minimal OpenDocument spreadsheet, as LibreOffice would save it."""

    def cell(value: str | float) -> str:
        if isinstance(value, float):
            return (
                f'<table:table-cell office:value-type="float" office:value="{value!r}">'
                f"<text:p>{value}</text:p></table:table-cell>"
            )
        return f'<table:table-cell office:value-type="string"><text:p>{value}</text:p></table:table-cell>'

    body = "".join(
        f"<table:table-row>{''.join(cell(v) for v in row)}</table:table-row>" for row in rows
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="{sheet}">{body}'
        "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet"
        )
        archive.writestr("content.xml", content)
        archive.writestr("META-INF/manifest.xml", MANIFEST)
    return path


MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
    'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
    '<manifest:file-entry manifest:full-path="/" '
    'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    "</manifest:manifest>"
)


# --- cells ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (917033009600.0, "917033009600"),
        (12.5, "12.5"),
        (0.1 + 0.2, "0.3"),
        (3, "3"),
        (-4.0, "-4"),
        (1e20, "1e+20"),
        (dt.date(2024, 5, 1), "2024-05-01"),
        (dt.datetime(2024, 5, 1, 9, 30), "2024-05-01 09:30:00"),
        (dt.time(9, 30), "09:30:00"),
        (dt.timedelta(hours=26, minutes=5), "26:05:00"),
        (True, "TRUE"),
        (False, "FALSE"),
        (None, ""),
        ("  as typed ", "  as typed "),
        (float("nan"), ""),
    ],
)
def test_cells_read_as_the_user_sees_them(value: object, shown: str) -> None:
    assert cell_text(value) == shown


def test_column_labels() -> None:
    assert [column_label(i) for i in (0, 1, 25, 26, 27, 701, 702)] == [
        "A",
        "B",
        "Z",
        "AA",
        "AB",
        "ZZ",
        "AAA",
    ]


# --- workbooks --------------------------------------------------------------------------------


def test_xlsx_cells_floats_dates_and_booleans(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "c.xlsx",
        [
            ["Name", "Phone", "Joined", "Visits", "VIP", "At"],
            ["Asha", 917033009600, dt.date(2024, 5, 1), 12.5, True, dt.datetime(2024, 5, 1, 9, 30)],
        ],
    )
    rows = list(read_rows(path))
    assert rows[1] == ["Asha", "917033009600", "2024-05-01", "12.5", "TRUE", "2024-05-01 09:30:00"]


def test_rows_and_columns_keep_their_positions(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["C3"], sheet["D3"], sheet["C4"], sheet["D4"] = "Name", "Phone", "Asha", "+917033009600"
    workbook.save(tmp_path / "offset.xlsx")
    rows = list(read_rows(tmp_path / "offset.xlsx"))
    assert rows[2] == ["", "", "Name", "Phone"]  # row 3 of the sheet, columns C and D
    assert rows[3][3] == "+917033009600"
    assert not any(rows[0]) and not any(rows[1])


def test_sheets_listed_and_chosen_by_name(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    workbook.active.title = "Notes"
    workbook.create_sheet("Clients").append(["Phone"])
    hidden = workbook.create_sheet("Lookup")
    hidden.sheet_state = "hidden"
    workbook.save(tmp_path / "s.xlsx")
    assert list_sheets(tmp_path / "s.xlsx") == ["Notes", "Clients", "Lookup"]  # visible first
    assert list(read_rows(tmp_path / "s.xlsx", "Clients")) == [["Phone"]]
    with pytest.raises(
        SpreadsheetError, match="no sheet called “Nope”; its sheets are: Notes, Clients"
    ):
        read_rows(tmp_path / "s.xlsx", "Nope")


def test_ods_is_read(tmp_path: Path) -> None:
    path = write_ods(
        tmp_path / "k.ods", "Kontakte", [["Name", "Handy"], ["Jürgen", 4915112345678.0]]
    )
    assert list_sheets(path) == ["Kontakte"]
    assert list(read_rows(path)) == [["Name", "Handy"], ["Jürgen", "4915112345678"]]


def test_a_csv_renamed_xlsx_is_read_as_csv(tmp_path: Path) -> None:
    path = tmp_path / "really.xlsx"
    path.write_text("Name,Phone\nAsha,+917033009600\n", encoding="utf-8")
    assert list_sheets(path) == ["really"]
    assert list(read_rows(path))[1] == ["Asha", "+917033009600"]


def test_markup_in_a_cell_is_data_but_a_saved_web_page_is_refused(tmp_path: Path) -> None:
    cells = tmp_path / "notes.csv"
    cells.write_text("<TABLE,Notes\nAsha,see <table> in the brochure\n", encoding="utf-8")
    assert list(read_rows(cells)) == [["<TABLE", "Notes"], ["Asha", "see <table> in the brochure"]]
    page = tmp_path / "export.xls"
    page.write_text("<table border=1><tr><td>Name</td></tr></table>", encoding="utf-8")
    with pytest.raises(SpreadsheetError, match="web page"):
        read_rows(page)


def test_the_size_hint(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "h.xlsx", [["Phone"], *([["+447911123456"]] * 9)])
    with read_rows(path) as stream:
        assert stream.total_hint == 10
    csv_path = tmp_path / "h.csv"
    csv_path.write_text("Phone\n" + "+447911123456\n" * 99_999, encoding="utf-8")
    with read_rows(csv_path) as stream:
        assert stream.total_hint is not None and 90_000 < stream.total_hint < 110_000


# --- CSV ------------------------------------------------------------------------------------------

SAMPLE = [
    ["Nombre", "Teléfono", "Ciudad"],
    ["José Ñúñez", "+52 55 1234 5678", "Mérida"],
    ["Zoë", "5512345679", "Cancún"],
]


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1252", "latin-1"]
)
@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_csv_encodings_and_delimiters_are_detected(
    tmp_path: Path, encoding: str, delimiter: str
) -> None:
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter).writerows(SAMPLE)
    path = tmp_path / "c.csv"
    path.write_bytes(text.getvalue().encode(encoding))
    assert list(read_rows(path)) == SAMPLE


def test_cp1252_euro_and_quotes_and_latin1_fallback(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_bytes("Name;Note\n“Ana”;5 €\n".encode("cp1252"))
    assert list(read_rows(path)) == [["Name", "Note"], ["“Ana”", "5 €"]]
    path.write_bytes(b"Name,Note\nA\x81na,x\n")  # 0x81 is undefined in cp1252
    assert list(read_rows(path))[1] == ["A\x81na", "x"]


def test_semicolons_with_decimal_commas_and_excel_sep_line(tmp_path: Path) -> None:
    path = tmp_path / "eu.csv"
    path.write_text(
        "Name;Phone;Balance\nAnna;+49 151 12345678;12,50\nBen;+49 151 12345679;3,75\n",
        encoding="utf-8",
    )
    assert list(read_rows(path))[1] == ["Anna", "+49 151 12345678", "12,50"]
    path.write_text("sep=|\nName|Phone\nA, B|+447911123456\n", encoding="utf-8")
    assert list(read_rows(path)) == [[], ["Name", "Phone"], ["A, B", "+447911123456"]]


def test_quoted_cells_with_delimiters_and_newlines(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(
        'Name,Address,Phone\n"Smith, Jo","1 Main St\nFlat 2",+447911123456\n', encoding="utf-8"
    )
    assert list(read_rows(path))[1] == ["Smith, Jo", "1 Main St\nFlat 2", "+447911123456"]


def test_a_one_column_list_of_numbers(tmp_path: Path) -> None:
    path = tmp_path / "numbers.txt"
    path.write_text("+447911123456\n+447911123457\n", encoding="utf-8")
    assert list(read_rows(path)) == [["+447911123456"], ["+447911123457"]]


# --- hypothesis: the CSV reader never crashes, and reads back what csv.writer wrote --------------


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.binary(max_size=3000), suffix=st.sampled_from([".csv", ".txt", ".xlsx", ".ods", ".xls"])
)
def test_arbitrary_bytes_never_crash(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"f{suffix}"
        path.write_bytes(data)
        try:
            list_sheets(path)
            rows = list(read_rows(path))
        except SpreadsheetError as error:
            assert error.message and error.what_to_do
        else:
            assert all(isinstance(cell, str) for row in rows for cell in row)


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(max_size=2000),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"]),
)
def test_arbitrary_text_in_any_encoding_never_crashes(text: str, encoding: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.csv"
        path.write_bytes(text.encode(encoding, errors="replace"))
        try:
            rows = list(read_rows(path))
        except SpreadsheetError:
            return
        detect_header_row(rows)
        guess_mapping(rows[0] if rows else [], rows[1:20])


DELIMITERS = [",", ";", "\t", "|"]
# Cells: any printable text (emoji, RTL, quotes, newlines, the delimiter itself), but not
# the *other* candidate delimiters — with those a file is genuinely ambiguous.
cell_chars = st.characters(
    blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff"
) | st.sampled_from(['"', "\n", "\r", " "])


@settings(max_examples=150, deadline=None)
@given(data=st.data(), delimiter=st.sampled_from(DELIMITERS), width=st.integers(2, 6))
def test_csv_writer_output_round_trips_with_any_delimiter(
    data: st.DataObject, delimiter: str, width: int
) -> None:
    others = set(DELIMITERS) - {delimiter}
    cell = st.text(cell_chars, max_size=12).filter(lambda t: not others & set(t))
    rows = data.draw(
        st.lists(st.lists(cell, min_size=width, max_size=width), min_size=1, max_size=15)
    )
    assume(all(any(c for c in row) for row in rows))  # a row of empty cells has no delimiter to see
    assume(not rows[0][0].lower().startswith(("sep=", '"sep=')))
    encoding = data.draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter).writerows(rows)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.csv"
        path.write_bytes(out.getvalue().encode(encoding))
        assert list(read_rows(path)) == rows


# --- the header ---------------------------------------------------------------------------------


def test_header_below_blank_and_title_rows() -> None:
    rows = [
        [],
        ["Customer list — May 2024", "", ""],
        ["exported by ShopCRM", "", ""],
        ["", "", ""],
        ["Name", "Mobile", "City"],
        ["Asha", "+91 70330 09600", "Pune"],
    ]
    assert detect_header_row(rows) == 4


def test_header_row_one_and_header_only() -> None:
    assert detect_header_row([["Name", "Phone"], ["Asha", "7033009600"]]) == 0
    assert detect_header_row([["Name", "Phone", "City"]]) == 0


def test_no_header_when_the_first_row_is_data() -> None:
    assert detect_header_row([["Asha", "+917033009600"], ["Ravi", "+917033009601"]]) == NO_HEADER
    assert detect_header_row([["+917033009600"], ["+917033009601"]]) == NO_HEADER


def test_one_column_header() -> None:
    assert detect_header_row([["My numbers"], [], ["Phone"], ["+917033009600"]]) == 2


def test_a_two_cell_title_above_a_wide_table_is_not_the_header() -> None:
    rows = [
        ["Clients", "May"],
        ["Name", "Phone", "City", "Email", "Notes"],
        ["A", "+447911123456", "x", "y", "z"],
    ]
    assert detect_header_row(rows) == 1


# --- the mapping ---------------------------------------------------------------------------------

GUESSES = [
    # English
    (
        ["Name", "Mobile Number", "Email", "City"],
        {"phone": 1, "name": 0, "fields": {2: "Email", 3: "City"}},
    ),
    (["First Name", "Last Name", "Phone"], {"phone": 2, "name_parts": [0, 1]}),
    # Spanish
    (
        ["Nombre", "Apellido", "Teléfono Celular", "Ciudad"],
        {"phone": 2, "name_parts": [0, 1], "fields": {3: "Ciudad"}},
    ),
    (["Nombre completo", "Móvil"], {"phone": 1, "name": 0}),
    # Portuguese
    (
        ["Nome completo", "Celular/WhatsApp", "Cidade"],
        {"phone": 1, "name": 0, "fields": {2: "Cidade"}},
    ),
    (["Nome", "Sobrenome", "Telefone"], {"phone": 2, "name_parts": [0, 1]}),
    # Indonesian
    (["Nama", "No HP", "Alamat"], {"phone": 1, "name": 0, "fields": {2: "Alamat"}}),
    (["Nama Lengkap", "Nomor WA"], {"phone": 1, "name": 0}),
    # French
    (
        ["Prénom", "Nom", "Portable", "Ville"],
        {"phone": 2, "name_parts": [0, 1], "fields": {3: "Ville"}},
    ),
    (["Nom complet", "Numéro de téléphone"], {"phone": 1, "name": 0}),
    # German
    (["Vorname", "Nachname", "Handynummer"], {"phone": 2, "name_parts": [0, 1]}),
    (["Name", "Vorname", "Telefon"], {"phone": 2, "name_parts": [1, 0]}),
    # Hindi, transliterated and in Devanagari
    (["Naam", "Mobile No", "Sheher"], {"phone": 1, "name": 0, "fields": {2: "Sheher"}}),
    (["नाम", "मोबाइल नंबर"], {"phone": 1, "name": 0}),
    # Arabic
    (["الاسم", "رقم الجوال"], {"phone": 1, "name": 0}),
]


@pytest.mark.parametrize(("headers", "expected"), GUESSES, ids=[" | ".join(h) for h, _ in GUESSES])
def test_mapping_guessed_from_headers_in_many_languages(
    headers: list[str], expected: dict[str, object]
) -> None:
    mapping = guess_mapping(headers)
    assert mapping is not None
    assert mapping.phone == expected["phone"]
    assert mapping.name == expected.get("name")
    assert mapping.name_parts == expected.get("name_parts", [])
    if "fields" in expected:
        assert mapping.fields == expected["fields"]


def test_whatsapp_beats_phone_and_the_other_becomes_a_field() -> None:
    mapping = guess_mapping(["Name", "Phone", "WhatsApp"])
    assert mapping is not None and mapping.phone == 2
    assert mapping.fields == {1: "Phone (2)"}  # never a field called "Phone"


def test_serial_and_order_numbers_are_not_phones() -> None:
    samples = [["1", "Asha", "A-1001", "+91 70330 09600"], ["2", "Ravi", "A-1002", "07033009601"]]
    mapping = guess_mapping(["S.No", "Customer Name", "Order number", "Mobile"], samples)
    assert mapping is not None and (mapping.phone, mapping.name) == (3, 1)
    assert mapping.fields == {0: "S.No", 2: "Order number"}


def test_the_values_decide_between_weak_header_words() -> None:
    mapping = guess_mapping(
        ["Number", "Contact"], [["1", "+91 70330 09600"], ["2", "+91 70330 09601"]]
    )
    assert mapping is not None and mapping.phone == 1


def test_without_header_words_the_column_of_phone_numbers_is_chosen() -> None:
    mapping = guess_mapping(
        ["Column A", "Column B"], [["Asha", "+91 70330 09600"], ["Ravi", "9.17033009601E+11"]]
    )
    assert mapping is not None and mapping.phone == 1
    assert guess_mapping(["Foo", "Bar"], [["a", "b"]]) is None
    assert guess_mapping([]) is None


def test_waapps_own_export_maps_back() -> None:
    headers = ["Name", "Phone", "City", "Opted out", "Opt-out reason", "Last reply", "Added"]
    mapping = guess_mapping(headers)
    assert mapping == ColumnMapping(
        phone=1, name=0, fields={2: "City"}, opt_out=3, opt_out_reason=4
    )


def test_duplicate_headers_make_unique_field_names() -> None:
    mapping = guess_mapping(["Phone", "Note", "note", " Note "])
    assert mapping is not None and mapping.fields == {1: "Note", 2: "note (2)", 3: "Note (3)"}


def test_mapping_round_trips_through_json_types() -> None:
    mapping = ColumnMapping(
        phone=2, name=None, fields={3: "City", 10: "Notes"}, name_parts=[0, 1], opt_out=4
    )
    assert ColumnMapping.from_dict(mapping.to_dict()) == mapping
    with pytest.raises(ValueError):
        ColumnMapping.from_dict({"name": 1})


def test_layout_key_ignores_case_spacing_and_trailing_empty_columns() -> None:
    assert layout_key(["Name", "Phone"]) == layout_key([" name ", "PHONE", "", ""])
    assert layout_key(["Name", "Phone"]) != layout_key(["Phone", "Name"])
    assert normalise_header(" Número de Teléfono:") == "numero de telefono"
