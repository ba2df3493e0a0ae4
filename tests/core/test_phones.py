"""Phone normalisation: the forms spreadsheets and providers produce, and the refusals."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from waapp.core.phones import (
    PhoneResult,
    _normalize,
    _normalize_any,
    _plain_digits,
    clear_cache,
    display_phone,
    is_e164,
    normalize_phone,
    region_name,
)

E164 = re.compile(r"^\+[1-9]\d{6,14}$")

# (raw input, default region, expected E.164)
ACCEPTED: list[tuple[object, str | None, str]] = [
    # India: every form of providers.md §5 and product.md part 2
    ("+91 70330 09600", None, "+917033009600"),
    ("7033009600", "IN", "+917033009600"),
    ("07033009600", "IN", "+917033009600"),
    ("0 7033009600", "IN", "+917033009600"),
    ("917033009600", "IN", "+917033009600"),
    ("0919876543210", "IN", "+919876543210"),
    ("91-70330-09600", "IN", "+917033009600"),
    ("91.7033.009600", "IN", "+917033009600"),
    ("(+91) 70330-09600", None, "+917033009600"),
    ("+91\u00a070330\u00a009600", None, "+917033009600"),
    ("\u200e+91 70330 09600\u200f", None, "+917033009600"),
    ("９１７０３３００９６００", "IN", "+917033009600"),
    ("00917033009600", "US", "+917033009600"),
    ("0091 70330 09600", "GB", "+917033009600"),
    ("14155238886", "IN", "+14155238886"),
    # spreadsheet artefacts
    (917033009600, "IN", "+917033009600"),
    (917033009600.0, "IN", "+917033009600"),
    (9.17033e11, "IN", "+917033000000"),  # a float cannot tell us digits were lost
    (Decimal("917033009600"), "IN", "+917033009600"),
    ("917033009600.0", "IN", "+917033009600"),
    ("917033009600,00", "IN", "+917033009600"),
    ("9.17033009600E+11", "IN", "+917033009600"),
    ("9,17033009600E+11", "IN", "+917033009600"),
    ("9.170330096000e11", "IN", "+917033009600"),
    # WhatsApp addresses
    ("whatsapp:+917033009600", None, "+917033009600"),
    ("WHATSAPP:+14155238886", "IN", "+14155238886"),
    ("WhatsApp:14155238886", None, "+14155238886"),
    ("917033009600@s.whatsapp.net", None, "+917033009600"),
    ("917033009600:12@s.whatsapp.net", None, "+917033009600"),
    ("917033009600@c.us", "GB", "+917033009600"),
    ("tel:+917033009600", None, "+917033009600"),
    # United States
    ("(415) 523-8886", "US", "+14155238886"),
    ("1-415-523-8886", "US", "+14155238886"),
    ("415.523.8886", "US", "+14155238886"),
    ("011 44 7911 123456", "US", "+447911123456"),
    ("+1 415 523 8886", "GB", "+14155238886"),
    # United Kingdom
    ("07911 123456", "GB", "+447911123456"),
    ("+44 (0)7911 123456", None, "+447911123456"),
    ("447911123456", "GB", "+447911123456"),
    ("00 44 7911 123456", "US", "+447911123456"),
    # Brazil
    ("11 98765-4321", "BR", "+5511987654321"),
    ("+55 11 98765-4321", None, "+5511987654321"),
    ("5511987654321", "BR", "+5511987654321"),
    ("(011) 98765-4321", "BR", "+5511987654321"),
    # Mexico, including WhatsApp's 521 form of mobiles
    ("55 1234 5678", "MX", "+525512345678"),
    ("525512345678", "MX", "+525512345678"),
    ("+52 1 55 1234 5678", None, "+525512345678"),
    ("5215512345678@s.whatsapp.net", None, "+525512345678"),
    # Indonesia
    ("0812-3456-7890", "ID", "+6281234567890"),
    ("+62 812 3456 7890", None, "+6281234567890"),
    ("6281234567890", "ID", "+6281234567890"),
    ("+62 (0)812 3456 7890", None, "+6281234567890"),
    # Germany
    ("0151 12345678", "DE", "+4915112345678"),
    ("0151/12345678", "DE", "+4915112345678"),
    ("+49 151 12345678", None, "+4915112345678"),
    ("0049 151 12345678", "IN", "+4915112345678"),
    ("015112345678", "de", "+4915112345678"),
]

# (raw input, default region, the reason starts with / contains this)
REFUSED: list[object] = [  # tuples, or pytest.param where the id needs care
    (None, "IN", "empty"),
    ("", "IN", "empty"),
    ("   \u00a0", "IN", "empty"),
    (float("nan"), "IN", "empty"),
    ("9.17033E+11", "IN", "digits lost by the spreadsheet (9.17033E+11)"),
    ("9,17033E+11", "IN", "digits lost by the spreadsheet (9,17033E+11)"),
    ("1E+11", "IN", "digits lost by the spreadsheet"),
    ("123456789@lid", None, "a WhatsApp internal id"),
    ("120363025246125486@g.us", None, "a WhatsApp group id"),
    ("someone@example.com", None, "looks like an e-mail address"),
    ("7033009600", None, "no country code"),
    ("abc", "IN", "has letters"),
    ("+91 98765 43210 ext 12", None, "has letters"),
    ("+1 800 FLOWERS", None, "has letters"),
    ("12", "IN", "too short for India"),
    ("+91 12345", None, "too short for India"),
    ("123456789012345678901", "IN", "too long (21 digits)"),
    ("+49 201000000000000", None, "too long (17 digits)"),
    ("98765 43210, 91234 56789", "IN", "looks like more than one number"),
    ("+999 1234567", None, "unknown country code"),
    ("555 0100", "US", "not a valid number for United States"),
    ("+44 7911 12345", None, "not a valid number for United Kingdom"),
    ("7033009600", "XX", "the default country “XX” is not known"),
    (True, "IN", "not a phone number"),
    (-917033009600, "IN", "a negative number"),
    (12.5, "IN", "not a whole number"),
    (float("inf"), "IN", "not a phone number"),
    ("1.5E-3", "IN", "not a whole number"),
    ("#1234567", "IN", "has a character that does not belong"),
    ("+91+91 7033009600", None, "has more than one +"),
    ("91 +7033009600", None, "has a + that is not at the start"),
    ("00", "IN", "no number after the international prefix"),
    ("+0919876543210", None, "no country code after the international prefix"),
    ("+", "IN", "has no digits"),
    pytest.param(10**5000, "IN", "too long", id="int-of-5001-digits"),  # str() would refuse
    (Decimal("1E+5000"), "IN", "too long"),
    (1e300, "IN", "too long"),
]


@pytest.mark.parametrize(("raw", "region", "expected"), ACCEPTED)
def test_accepted(raw: object, region: str | None, expected: str) -> None:
    result = normalize_phone(raw, region)
    assert result == PhoneResult(input=result.input, e164=expected, reason=None)
    assert result.valid


@pytest.mark.parametrize(("raw", "region", "reason"), REFUSED)
def test_refused(raw: object, region: str | None, reason: str) -> None:
    result = normalize_phone(raw, region)
    assert not result.valid
    assert result.e164 is None
    assert result.reason is not None
    assert reason in result.reason


def test_lossy_scientific_reason_starts_with_the_rule_and_says_what_to_do() -> None:
    reason = normalize_phone("9.17033E+11", "IN").reason
    assert reason is not None
    assert reason.startswith("digits lost by the spreadsheet (9.17033E+11) — ")
    assert "Text" in reason


def test_national_number_without_region_asks_for_country_code_or_default_country() -> None:
    reason = normalize_phone("07911 123456").reason
    assert reason is not None
    assert "country code" in reason
    assert "default country" in reason


def test_lid_is_refused_whatever_the_region() -> None:
    for region in (None, "IN", "US"):
        assert normalize_phone("917033009600@lid", region).reason is not None


def test_national_reading_wins_when_it_is_valid() -> None:
    # 4155238886 is a valid Indian landline, so with region IN it is not read as +1 415…
    assert normalize_phone("4155238886", "IN").e164 == "+914155238886"
    assert normalize_phone("4155238886", "US").e164 == "+14155238886"


def test_input_is_the_raw_text() -> None:
    assert normalize_phone(" +91 70330 09600 ").input == " +91 70330 09600 "
    assert normalize_phone(917033009600.0, "IN").input == "917033009600"
    assert normalize_phone(917033009600, "IN").input == "917033009600"
    assert normalize_phone(None).input == ""


def test_results_are_cached_on_text_and_region() -> None:
    clear_cache()
    first = normalize_phone("7033009600", "IN")
    assert normalize_phone("7033009600", "IN") is first
    assert normalize_phone("7033009600", "in") is first  # region case does not matter
    # a float goes through its text form and shares the entry
    assert normalize_phone(917033009600.0, "IN") is normalize_phone("917033009600", "IN")
    assert normalize_phone("7033009600", "GB") is not first


def test_result_is_frozen() -> None:
    result = normalize_phone("+917033009600")
    with pytest.raises(AttributeError):
        result.e164 = "+1"  # type: ignore[misc]


def test_display_phone() -> None:
    assert display_phone("+917033009600") == "+91 70330 09600"
    assert display_phone("+14155238886") == "+1 415-523-8886"
    assert display_phone("not a number") == "not a number"


def test_region_name() -> None:
    assert region_name("IN") == "India"
    assert region_name("gb") == "United Kingdom"
    assert region_name("DE") == "Germany"
    assert region_name("XX") == "XX"


def test_is_e164() -> None:
    assert is_e164("+917033009600")
    assert not is_e164("917033009600")
    assert not is_e164("+0917033009600")
    assert not is_e164("+91 70330 09600")


# --- properties --------------------------------------------------------------------------

REGIONS = st.sampled_from([None, "IN", "US", "GB", "BR", "MX", "ID", "DE", "in", "XX", ""])
PHONE_LIKE = st.text(alphabet="0123456789+ -().", min_size=0, max_size=20)
PROPERTY_SETTINGS = settings(max_examples=250, deadline=None)


def _check_invariant(result: PhoneResult, region: str | None) -> None:
    assert isinstance(result.input, str)
    if result.e164 is not None:
        assert result.reason is None
        assert E164.fullmatch(result.e164), result
        # normalising the output again is a fixed point, whatever the region
        assert normalize_phone(result.e164, region).e164 == result.e164
        assert normalize_phone(result.e164).e164 == result.e164
    else:
        assert result.reason, result


@PROPERTY_SETTINGS
@given(raw=st.text(max_size=40), region=REGIONS)
def test_never_raises_for_any_text(raw: str, region: str | None) -> None:
    _check_invariant(normalize_phone(raw, region), region)


@PROPERTY_SETTINGS
@given(raw=PHONE_LIKE, region=REGIONS)
def test_never_raises_for_phone_like_text(raw: str, region: str | None) -> None:
    _check_invariant(normalize_phone(raw, region), region)


@PROPERTY_SETTINGS
@given(raw=st.integers(min_value=-(10**20), max_value=10**20), region=REGIONS)
def test_never_raises_for_integers(raw: int, region: str | None) -> None:
    _check_invariant(normalize_phone(raw, region), region)


@PROPERTY_SETTINGS
@given(raw=st.floats(allow_nan=True, allow_infinity=True), region=REGIONS)
def test_never_raises_for_floats(raw: float, region: str | None) -> None:
    _check_invariant(normalize_phone(raw, region), region)


@PROPERTY_SETTINGS
@given(
    national=st.integers(min_value=6_000_000_000, max_value=9_999_999_999),
    form=st.sampled_from(["{n}", "0{n}", "91{n}", "+91{n}", "0091{n}", "091{n}", "{n}.0"]),
)
def test_indian_mobiles_in_every_form_agree(national: int, form: str) -> None:
    expected = normalize_phone(f"+91{national}").e164
    assert normalize_phone(form.format(n=national), "IN").e164 == expected


# --- the fast path of plain cells --------------------------------------------------------
# Most spreadsheet cells are digits with spaces, "-" and parentheses, and at most one leading
# "+": normalize_phone reads them without the general cleaning rules. Whatever the input, the
# outcome must be what the general rules give.

NORMALISED_REGIONS = st.sampled_from([None, "IN", "US", "GB", "BR", "MX", "ID", "DE", "XX"])
PLAIN_TEXT = st.text(alphabet="0123456789 +-()", max_size=24)
KNOWN_DIGITS = sorted(
    {re.sub(r"\D", "", raw) for raw, _region, _e164 in ACCEPTED if isinstance(raw, str)} - {""}
)


@st.composite
def written_numbers(draw: st.DrawFn) -> str:
    """A real number (from ACCEPTED) or random digits, with a prefix and separators."""
    digits = draw(st.sampled_from(KNOWN_DIGITS) | st.text(alphabet="0123456789", max_size=18))
    prefix = draw(st.sampled_from(["", "+", "00", "0", "+00", "(+", "( ", " - ", "+0"]))
    cuts = draw(st.lists(st.integers(0, len(digits)), max_size=4, unique=True))
    pieces, start = [], 0
    for cut in sorted(cuts):
        pieces.append(digits[start:cut])
        pieces.append(draw(st.sampled_from([" ", "-", "(", ")", ") ", " - ", "  "])))
        start = cut
    pieces.append(digits[start:])
    return prefix + "".join(pieces) + draw(st.sampled_from(["", " ", ")", "+"]))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7033009600", ("7033009600", False)),
        ("+91 70330 09600", ("917033009600", True)),
        ("(+91) 70330-09600", ("917033009600", True)),
        ("  0091 7033009600 ", ("00917033009600", False)),
        ("(415) 523-8886", ("4155238886", False)),
        # left to the general rules
        ("", None),
        ("+ - ", None),
        ("917033009600.0", None),
        ("9.17033E+11", None),
        ("91.7033.009600", None),
        ("0151/12345678", None),
        ("+91+91 7033009600", None),
        ("91 +7033009600", None),
        ("+91\u00a070330\u00a009600", None),
        ("\u200e+91 70330 09600", None),
        ("９１７０３３００９６００", None),
        ("whatsapp:+917033009600", None),
        ("917033009600@s.whatsapp.net", None),
        ("+91\t7033009600", None),
    ],
)
def test_plain_cells_are_recognised(text: str, expected: tuple[str, bool] | None) -> None:
    assert _plain_digits(text) == expected


@settings(max_examples=1500, deadline=None)
@given(raw=written_numbers() | PLAIN_TEXT | PHONE_LIKE, region=NORMALISED_REGIONS)
def test_plain_cells_take_the_same_path_as_the_general_rules(raw: str, region: str | None) -> None:
    assert _normalize(raw, region) == _normalize_any(raw, region)


@pytest.mark.parametrize(("raw", "region", "expected"), ACCEPTED)
def test_accepted_numbers_agree_on_both_paths(
    raw: object, region: str | None, expected: str
) -> None:
    if not isinstance(raw, str):
        return  # numbers are turned into text first: covered by test_accepted
    region = region.upper() if region else None
    assert _normalize_any(raw, region) == (expected, None)
    assert _normalize(raw, region) == (expected, None)
