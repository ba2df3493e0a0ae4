"""Phone numbers: whatever a spreadsheet or a provider hands us, to E.164 or a plain reason.

The one entry point is :func:`normalize_phone`. It never raises: every input ends as a
:class:`PhoneResult` that carries either the E.164 number (``+917033009600``) or a reason in
plain language that the import report shows next to the row.

Rules, in the order they are applied (providers.md §5 has the evidence behind them):

* WhatsApp addresses are international by construction: ``whatsapp:+…`` (Twilio, any case),
  ``…@s.whatsapp.net`` and ``…@c.us`` (gateway JIDs, digits without ``+``). ``…@lid`` is a
  WhatsApp-internal id that hides the number and is refused.
* Spreadsheet artefacts: ``917033009600.0`` is the float the cell held; scientific notation
  is accepted only when the mantissa still holds every digit (``9.17033009600E+11``). When
  the exponent exceeds the mantissa's fraction digits, the spreadsheet filled in zeros
  (``9.17033E+11``) and the row is refused — we never guess lost digits.
* ``+`` or ``00`` mean international, whatever the default region (libphonenumber with
  region US reads ``00…`` as a national number).
* Without either, the number is read nationally in the default region first; only when that
  reading is invalid is it tried as a country code without ``+`` (``14155238886`` with IN),
  or as a trunk ``0`` typed before the region's own country code (``0919876543210`` with IN).
* Without a default region, a number without ``+``/``00`` is refused: prepending ``+``
  blindly turned Kuwaiti numbers into Peruvian ones (providers.md §5).
* Only numbers that libphonenumber calls *valid* are accepted.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from waapp.core.region_names import REGION_NAMES

#: Results are cached per (text, region): imports are duplicate-heavy and one parse costs
#: ~32 µs (performance.md). 200 000 entries cover the largest import we plan for (100 000
#: rows) twice over, at roughly 60-70 MB in the worst case where every entry is distinct.
PHONE_CACHE_SIZE = 200_000

#: E.164 allows at most 15 digits including the country code.
E164_MAX_DIGITS = 15

_E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")

# Characters that copy-and-paste brings along and that nobody can see: zero-width spaces,
# direction marks (right-to-left spreadsheets), the byte-order mark, soft hyphens.
_INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
        "\u2060\u2066\u2067\u2068\u2069\ufeff\u00ad",
    ),
    None,
)
# Separators people type between digit groups. "/" is common in German numbers (0151/…).
_SEPARATORS = frozenset("-.()/[]\u2010\u2011\u2012\u2013\u2014\u2212")
# Characters that separate two numbers written into one cell.
_LIST_SEPARATORS = frozenset(",;|&")

# Spreadsheet scientific notation: "9.17033E+11", "9,17033E+11" (comma locales), "1E+11".
_SCIENTIFIC_RE = re.compile(r"^\+?(\d+)(?:[.,](\d*))?[eE]([+-]?\d+)$")
# A whole number that went through a float: "917033009600.0", "917033009600,00".
_FLOAT_TEXT_RE = re.compile(r"^(\+?\d+)[.,]0+$")
# The plain cell: ASCII digits, spaces, "-", "(" and ")", at most one "+" before every digit
# ("+91 70330 09600", "(415) 523-8886", "07033009600"). See _plain_digits.
_PLAIN_RE = re.compile(r"[ ()\-]*\+?[0-9 ()\-]*")
_PLAIN_SEPARATORS = str.maketrans("", "", " ()-+")
# WhatsApp JIDs may carry a device ("…:12@s.whatsapp.net") or agent ("….0:12@…") part.
_JID_USER_RE = re.compile(r"^\+?(\d+)(?:[.:]\d+)*$")

_PHONE_JID_DOMAINS = frozenset({"s.whatsapp.net", "c.us"})

# Numeric cells at or above this cannot be a phone number even with "00" and a trunk "0".
_NUMBER_TOO_BIG = 10 ** (E164_MAX_DIGITS + 2)
_BIG_NUMBER_TEXT = "(a number too large to show)"

_REASON_EMPTY = "empty"
_REASON_NO_COUNTRY = (
    "no country code — write the number with + and its country code "
    "(for example +91 70330 09600), or choose a default country for the import"
)


@dataclass(frozen=True, slots=True)
class PhoneResult:
    """The outcome of normalising one phone number: exactly one of ``e164``/``reason`` is set.

    ``input`` is the raw input as text (a float cell ``917033009600.0`` appears as
    ``917033009600``), ``e164`` the number as ``+<country code><national number>`` when it is
    valid, ``reason`` a lowercase plain-language phrase when it was refused.
    """

    input: str
    e164: str | None
    reason: str | None

    @property
    def valid(self) -> bool:
        return self.e164 is not None


def normalize_phone(raw: object, default_region: str | None = None) -> PhoneResult:
    """Normalise ``raw`` (str, int, float, Decimal, None …) to E.164 with ``default_region``.

    ``default_region`` is an ISO 3166 alpha-2 code (``"IN"``, any case) used for numbers
    written without a country code. Never raises. Results are cached on the text form of
    ``raw`` and the region, so repeated numbers cost a dictionary look-up.
    """
    region = (default_region.strip().upper() or None) if isinstance(default_region, str) else None
    if type(raw) is str:  # the common case, what _as_text would return
        return _normalize_text(raw, region)
    text, refusal = _as_text(raw)
    if refusal is not None:
        return PhoneResult(input=text, e164=None, reason=refusal)
    return _normalize_text(text, region)


def is_e164(text: str) -> bool:
    """True when ``text`` has the E.164 *shape* (``+`` and 7-15 digits); validity not checked."""
    return _E164_RE.fullmatch(text) is not None


def display_phone(e164: str) -> str:
    """``+917033009600`` → ``+91 70330 09600`` for the UI; any unparsable text comes back as is."""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


def region_name(region: str) -> str:
    """The English name of a region code (``"IN"`` → ``"India"``); the code itself if unknown."""
    code = region.strip().upper()
    return REGION_NAMES.get(code, code)


def clear_cache() -> None:
    """Forget cached results (tests, or after a metadata upgrade)."""
    _normalize_text.cache_clear()


# --- the text form of a cell -------------------------------------------------------------


def _as_text(raw: object) -> tuple[str, str | None]:
    """The text to normalise, or (input-as-text, reason) when ``raw`` cannot be a number."""
    if raw is None:
        return "", _REASON_EMPTY
    if isinstance(raw, str):
        return raw, None
    # bool is an int: a True in a phone column is a mapping mistake, not the number 1.
    if isinstance(raw, bool):
        return str(raw), f"not a phone number ({raw})"
    if isinstance(raw, int):
        if raw >= _NUMBER_TOO_BIG:
            # Python refuses to turn ints of over 4,300 digits into text; no phone needs it.
            return _BIG_NUMBER_TEXT, _too_long_number()
        if raw < 0:
            return str(raw), "a negative number, not a phone number"
        return str(raw), None
    if isinstance(raw, float | Decimal):
        return _number_text(raw)
    try:
        return str(raw), None
    except Exception:  # a foreign object's __str__ may fail; the contract is "never raises"
        return "", f"cannot be read as text ({type(raw).__name__})"


def _number_text(value: float | Decimal) -> tuple[str, str | None]:
    # NaN is what data-frame readers put into empty cells.
    if value.is_nan() if isinstance(value, Decimal) else math.isnan(value):
        return "", _REASON_EMPTY
    if value.is_infinite() if isinstance(value, Decimal) else math.isinf(value):
        return str(value), "not a phone number (infinite)"
    if value >= _NUMBER_TOO_BIG:
        return str(value), _too_long_number()
    if value < 0:
        return str(value), "a negative number, not a phone number"
    if value != int(value):
        return str(value), f"not a whole number ({value})"
    # A float cell such as 917033009600.0 is the number itself. 9.17033E+11 typed into Excel
    # also arrives as a float (917033000000.0) and cannot be told apart: accept it as is.
    return str(int(value)), None


# --- normalisation -----------------------------------------------------------------------


@lru_cache(maxsize=PHONE_CACHE_SIZE)
def _normalize_text(text: str, region: str | None) -> PhoneResult:
    e164, reason = _normalize(text, region)
    if e164 is not None and not is_e164(e164):
        # libphonenumber accepts some German numbers longer than E.164 allows
        # (+49 201000000000000); WhatsApp and every provider would refuse them.
        return PhoneResult(input=text, e164=None, reason=_too_long(e164[1:]))
    return PhoneResult(input=text, e164=e164, reason=reason)


def _normalize(text: str, region: str | None) -> tuple[str | None, str | None]:
    plain = _plain_digits(text)
    if plain is None:
        return _normalize_any(text, region)
    digits, plus = plain
    return _read_digits(digits, plus=plus, international=False, region=region)


def _normalize_any(text: str, region: str | None) -> tuple[str | None, str | None]:
    """The general rules, for any text (see the module doc)."""
    s = _clean(text)
    if not s:
        return None, _REASON_EMPTY

    international = False
    lowered = s.lower()
    if lowered.startswith("whatsapp:"):
        # Twilio addresses are always international, with or without the "+".
        s, international = s[len("whatsapp:") :].strip(), True
    elif lowered.startswith("tel:"):
        s = s[len("tel:") :].strip()
    if "@" in s:
        user, _, domain = s.rpartition("@")
        domain = domain.strip().lower()
        if domain == "lid":
            return None, (
                f"a WhatsApp internal id ({s}), not a phone number — WhatsApp hides this "
                "contact's number; use their phone number instead"
            )
        if domain == "g.us":
            return None, f"a WhatsApp group id ({s}), not a phone number"
        if domain not in _PHONE_JID_DOMAINS:
            return None, f"looks like an e-mail address or chat id ({s}), not a phone number"
        match = _JID_USER_RE.fullmatch(user.strip())
        if match is None:
            return None, f"not a phone-number WhatsApp id ({s})"
        # JIDs hold the international number without "+".
        s, international = match.group(1), True

    compact = "".join(s.split())
    scientific = _SCIENTIFIC_RE.fullmatch(compact)
    if scientific is not None:
        exact, lost = _from_scientific(compact, scientific)
        if exact is None:
            return None, lost
        s = exact
    else:
        whole = _FLOAT_TEXT_RE.fullmatch(compact)
        if whole is not None:
            s = whole.group(1)

    digits, plus, reason = _digits_of(s)
    if reason is not None:
        return None, reason
    return _read_digits(digits, plus=plus, international=international, region=region)


def _plain_digits(text: str) -> tuple[str, bool] | None:
    """(digits, had a "+") of a plain cell, or None: then the general rules apply.

    The fast path of most spreadsheet cells, and exactly what the general path yields for
    them: a plain cell (``_PLAIN_RE``) has no invisible or non-ASCII characters for
    :func:`_clean` to change (its ``strip`` only drops spaces, which :func:`_digits_of`
    skips anyway), no letters (no ``whatsapp:``/``tel:`` prefix, no scientific notation), no
    ``@`` (no JID), no ``.`` or ``,`` (no float text), and no character :func:`_digits_of`
    would refuse; its one "+" comes before every digit. With at least one digit,
    :func:`_digits_of` returns these digits and this "+" and no reason.
    ``test_plain_cells_take_the_same_path_as_the_general_rules`` checks the equivalence.
    """
    if _PLAIN_RE.fullmatch(text) is None:
        return None
    digits = text.translate(_PLAIN_SEPARATORS)
    if not digits:
        return None  # "has no digits": the general path words the reason
    return digits, "+" in text


def _read_digits(
    digits: str, *, plus: bool, international: bool, region: str | None
) -> tuple[str | None, str | None]:
    """Read the digits of one number: "+" or "00" (or ``international``) mean a country code
    follows; otherwise ``region`` decides."""
    if len(digits) > E164_MAX_DIGITS + 2:  # room for "00" and a stray trunk "0"
        return None, _too_long(digits)

    if plus and digits.startswith("00"):
        digits = digits[2:]  # "+00 91 …": both international markers typed
    elif not plus and digits.startswith("00"):
        # "00" is the international prefix in most of the world; treat it as such whatever
        # the default region (libphonenumber with region US would read it nationally).
        digits, international = digits[2:], True
    if plus or international:
        return _international(digits)
    if region is None:
        return None, _REASON_NO_COUNTRY
    return _national(digits, region)


def _clean(text: str) -> str:
    """``text`` without invisible characters, with ASCII digits and ``+``, stripped."""
    s = text.translate(_INVISIBLE)
    if not s.isascii():
        # Full-width digits and "＋" (Asian keyboards), non-breaking spaces → ASCII; other
        # scripts' decimal digits (Arabic-Indic, Devanagari …) → 0-9.
        s = unicodedata.normalize("NFKC", s)
        s = "".join(
            str(unicodedata.decimal(c)) if not c.isascii() and c.isdecimal() else c for c in s
        )
    return s.strip()


def _from_scientific(text: str, match: re.Match[str]) -> tuple[str | None, str]:
    """The digits written in scientific notation, or why they cannot be trusted."""
    integer, fraction, exponent = match.group(1), match.group(2) or "", int(match.group(3))
    if exponent < len(fraction):
        # 9.170330096000E+11: trailing fraction digits beyond the exponent must be zeros.
        if fraction[exponent:].strip("0"):
            return None, f"not a whole number ({text})"
        fraction = fraction[:exponent]
    if exponent > len(fraction):
        return None, (
            f"digits lost by the spreadsheet ({text}) — the cell showed the number in "
            "scientific notation and its last digits were replaced by zeros; format the phone "
            "column as Text, type the numbers again and re-import"
        )
    return (integer + fraction).lstrip("0") or "0", ""


def _digits_of(s: str) -> tuple[str, bool, str | None]:
    """(digits, had a leading "+", reason if ``s`` is not shaped like one phone number)."""
    digits: list[str] = []
    plus = False
    for c in s:
        if "0" <= c <= "9":
            digits.append(c)
        elif c == "+":
            if plus:
                return "", False, f"has more than one + ({s})"
            if digits:
                return "", False, f"has a + that is not at the start ({s})"
            plus = True
        elif c.isspace() or c in _SEPARATORS:
            continue
        elif c.isalpha():
            hint = "a phone number has only digits, spaces and + ( ) - ."
            return "", False, f"has letters ({s}) — {hint}"
        elif c in _LIST_SEPARATORS:
            return "", False, f"looks like more than one number ({s}) — keep one number per row"
        else:
            return "", False, f"has a character that does not belong in a phone number: {c!r}"
    if not digits:
        return "", False, f"has no digits ({s})"
    return "".join(digits), plus, None


def _international(digits: str) -> tuple[str | None, str | None]:
    """Read ``digits`` as country code + national number."""
    if not digits:
        return None, "no number after the international prefix (+ or 00)"
    if digits[0] == "0":
        return None, f"no country code after the international prefix (+{digits})"
    try:
        number = phonenumbers.parse("+" + digits, None)
    except NumberParseException as error:
        return None, _parse_failure(error, "+" + digits, region=None)
    if phonenumbers.is_valid_number(number):
        return _e164(number), None
    fixed = _mexican_mobile(number)
    if fixed is not None:
        return fixed, None
    return None, _invalid(number, "+" + digits)


def _national(digits: str, region: str) -> tuple[str | None, str | None]:
    """Read ``digits`` in ``region``; fall back to an international reading only if invalid."""
    if region not in phonenumbers.SUPPORTED_REGIONS:
        return None, f"the default country “{region}” is not known; choose another"
    try:
        number = phonenumbers.parse(digits, region)
    except NumberParseException as error:
        return None, _parse_failure(error, digits, region=region)
    if phonenumbers.is_valid_number(number):
        return _e164(number), None

    country_code = str(phonenumbers.country_code_for_region(region))
    if digits.startswith("0" + country_code):
        # "0919876543210": a trunk 0 typed before the region's own country code.
        # libphonenumber keeps the 0 and yields the invalid +91919876543210.
        e164, _ = _international(digits[1:])
    elif not digits.startswith("0"):
        # "14155238886" with region IN: a foreign country code written without "+".
        e164, _ = _international(digits)
    else:
        e164 = None
    if e164 is not None:
        return e164, None
    return None, _invalid(number, digits, region=region)


def _mexican_mobile(number: phonenumbers.PhoneNumber) -> str | None:
    """``+52 1 XXXXXXXXXX`` → ``+52 XXXXXXXXXX``.

    WhatsApp still keys Mexican mobiles as 521 + 10 digits (providers.md §5), while the
    numbering plan dropped the "1" in 2019; store the valid form so both readings match.
    """
    national = str(number.national_number)
    if number.country_code != 52 or len(national) != 11 or not national.startswith("1"):
        return None
    try:
        shorter = phonenumbers.parse("+52" + national[1:], None)
    except NumberParseException:
        return None
    return _e164(shorter) if phonenumbers.is_valid_number(shorter) else None


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


# --- reasons -----------------------------------------------------------------------------


def _country_label(country_code: int) -> str:
    region = phonenumbers.region_code_for_country_code(country_code)
    if region in ("ZZ", "001"):  # unknown, or a non-geographic code such as +800
        return f"+{country_code}"
    return region_name(region)


def _too_long(digits: str) -> str:
    return (
        f"too long ({len(digits)} digits) — a phone number has at most {E164_MAX_DIGITS} "
        "digits with its country code; is it two numbers in one cell?"
    )


def _too_long_number() -> str:
    return f"too long — a phone number has at most {E164_MAX_DIGITS} digits with its country code"


def _parse_failure(error: NumberParseException, text: str, *, region: str | None) -> str:
    kind = error.error_type
    if kind == NumberParseException.INVALID_COUNTRY_CODE:
        return f"unknown country code ({text})"
    if kind == NumberParseException.TOO_LONG:
        return _too_long(text.lstrip("+"))
    if kind in (NumberParseException.TOO_SHORT_NSN, NumberParseException.TOO_SHORT_AFTER_IDD):
        where = f" for {region_name(region)}" if region else ""
        return f"too short{where} ({text})"
    if len(text.lstrip("+")) < 5:
        return f"too short ({text})"
    return f"not a phone number ({text})"


def _invalid(number: phonenumbers.PhoneNumber, shown: str, *, region: str | None = None) -> str:
    country_code = number.country_code or 0
    where = _country_label(country_code)
    if region is not None and phonenumbers.country_code_for_region(region) == country_code:
        where = region_name(region)
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == ValidationResult.TOO_SHORT:
        return f"too short for {where} ({shown})"
    if possible == ValidationResult.TOO_LONG:
        return f"too long for {where} ({shown})"
    if possible == ValidationResult.INVALID_COUNTRY_CODE:
        return f"unknown country code ({shown})"
    return f"not a valid number for {where} ({shown})"
