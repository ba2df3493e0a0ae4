"""Mapping columns to phone / name / custom fields from header words in several languages,
or from the values when no header word matches."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from waapp.core.phones import normalize_phone
from waapp.services.spreadsheet.header import looks_like_phone

# --- the mapping ----------------------------------------------------------------------------


@dataclass(slots=True)
class ColumnMapping:
    """Which column (0-based index) holds what.

    ``phone`` is required. The name is ``name``'s cell, or the non-empty cells of
    ``name_parts`` joined by a space (first name + last name). ``fields`` maps a column to
    the custom field it fills. ``opt_out`` is a column whose "yes"-like values (yes, true,
    1, x, sí, sim, oui, ja, ya, opted out …) import the contact as opted out, with
    ``opt_out_reason``'s text as the reason — never the other way round: a file cannot opt
    anyone back in. Columns not named anywhere are not imported.
    """

    phone: int
    name: int | None = None
    fields: dict[int, str] = field(default_factory=dict)
    name_parts: list[int] = field(default_factory=list)
    opt_out: int | None = None
    opt_out_reason: int | None = None

    def columns(self) -> set[int]:
        """Every column this mapping reads."""
        used = {self.phone, *self.fields, *self.name_parts}
        for extra in (self.name, self.opt_out, self.opt_out_reason):
            if extra is not None:
                used.add(extra)
        return used

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (column keys become strings)."""
        return {
            "phone": self.phone,
            "name": self.name,
            "name_parts": list(self.name_parts),
            "fields": {str(column): name for column, name in self.fields.items()},
            "opt_out": self.opt_out,
            "opt_out_reason": self.opt_out_reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnMapping:
        """Inverse of :meth:`to_dict`; raises ValueError for a malformed dictionary."""
        try:

            def optional(key: str) -> int | None:
                value = data.get(key)
                return None if value is None else int(value)

            return cls(
                phone=int(data["phone"]),
                name=optional("name"),
                name_parts=[int(c) for c in data.get("name_parts") or []],
                fields={int(c): str(n) for c, n in (data.get("fields") or {}).items()},
                opt_out=optional("opt_out"),
                opt_out_reason=optional("opt_out_reason"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a column mapping: {data!r}") from exc


def normalise_header(text: str) -> str:
    """A header as compared: case-folded, accents and punctuation removed, spaces collapsed
    (``" Número de Teléfono:"`` → ``"numero de telefono"``)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(kept.split())


def layout_key(headers: Sequence[str]) -> str:
    """A stable key for a file layout: the same headers (ignoring case, accents, spacing
    and empty trailing columns) give the same key. Stored as ``import_mapping:<key>``."""
    names = [" ".join(h.casefold().split()) for h in headers]
    while names and not names[-1]:
        names.pop()
    return hashlib.sha1("\x1f".join(names).encode("utf-8")).hexdigest()[:24]


# Header words, normalised (see normalise_header). Whole-header matches score higher than a
# word inside a longer header ("customer mobile no").
_PHONE_WORDS: dict[str, int] = {
    # WhatsApp first: a sheet with "Phone" and "WhatsApp" columns means the latter.
    **dict.fromkeys(
        [
            "whatsapp",
            "whats app",
            "wa",
            "whatsapp number",
            "whatsapp no",
            "no wa",
            "nomor wa",
            "numero whatsapp",
            "numero de whatsapp",
            "zap",
            "whats",
            "wapp",
            "wa number",
            "wa no",
        ],
        6,
    ),
    **dict.fromkeys(
        [
            "mobile",
            "mobile no",
            "mobile number",
            "mob",
            "mob no",
            "mobile phone",
            "cell",
            "cell phone",
            "cellphone",
            "cell no",
            "cellular",
            "celular",
            "numero celular",
            "numero de celular",
            "telefone celular",
            "movil",
            "telefono movil",
            "hp",
            "no hp",
            "nomor hp",
            "handphone",
            "no handphone",
            "portable",
            "telephone portable",
            "numero de portable",
            "handy",
            "handynummer",
            "mobil",
            "mobilnummer",
            "mobiltelefon",
            "mobile phone number",
            "मोबाइल",
            "मोबाइल नंबर",
            "موبايل",
            "جوال",
            "נייד",
        ],
        5,
    ),
    **dict.fromkeys(
        [
            "phone",
            "phone number",
            "phone no",
            "phone num",
            "ph",
            "ph no",
            "tel",
            "tel no",
            "telephone",
            "telephone number",
            "telefone",
            "telefono",
            "numero de telefono",
            "numero de telefone",
            "telefon",
            "telefonnummer",
            "rufnummer",
            "fone",
            "telp",
            "no telp",
            "telepon",
            "nomor telepon",
            "no telepon",
            "numero de telephone",
            "contact number",
            "contact no",
            "msisdn",
            "फोन",
            "फ़ोन",
            "फोन नंबर",
            "هاتف",
            "טלפון",
            "电话",
            "手机",
            "電話",
        ],
        4,
    ),
    **dict.fromkeys(
        [
            "number",
            "numero",
            "nomor",
            "nummer",
            "contact",
            "contato",
            "contacto",
            "kontak",
            "नंबर",
            "رقم",
        ],
        2,
    ),
}
_PHONE_TOKENS = {
    "whatsapp": 5,
    "mobile": 4,
    "cell": 4,
    "celular": 4,
    "movil": 4,
    "handphone": 4,
    "hp": 3,
    "handy": 4,
    "mobil": 4,
    "mobilnummer": 4,
    "phone": 3,
    "telefone": 3,
    "telefono": 3,
    "telephone": 3,
    "telefon": 3,
    "telefonnummer": 3,
    "tel": 3,
    "telp": 3,
    "telepon": 3,
    "wa": 3,
    "msisdn": 3,
    "portable": 3,
    "mob": 3,
    "fone": 3,
    "جوال": 4,
    "الجوال": 4,
    "موبايل": 4,
    "هاتف": 3,
    "الهاتف": 3,
    "मोबाइल": 4,
    "फोन": 3,
    "फ़ोन": 3,
    "טלפון": 3,
    "נייד": 4,
}
_NOT_PHONE_TOKENS = frozenset(
    {
        "fax",
        "email",
        "mail",
        "e",
        "id",
        "order",
        "invoice",
        "serial",
        "sr",
        "s",
        "sl",
        "account",
        "pin",
        "zip",
        "postal",
        "code",
        "otp",
        "aadhar",
        "aadhaar",
        "pan",
        "gst",
        "passport",
        "cpf",
        "rfc",
        "npwp",
        "nik",
        "ktp",
        "tax",
        "vat",
        "iban",
        "card",
    }
)
_NAME_WORDS: dict[str, int] = {
    **dict.fromkeys(
        [
            "name",
            "full name",
            "fullname",
            "names",
            "nombre",
            "nombre completo",
            "nombres",
            "nome",
            "nome completo",
            "nama",
            "nama lengkap",
            "nom complet",
            "nom et prenom",
            "vollstandiger name",
            "naam",
            "customer",
            "customer name",
            "client",
            "client name",
            "cliente",
            "nombre del cliente",
            "nome do cliente",
            "pelanggan",
            "nama pelanggan",
            "contact name",
            "contact person",
            "नाम",
            "ग्राहक",
            "اسم",
            "الاسم",
            "שם",
            "姓名",
            "nom",
        ],
        3,
    ),
}
_NOT_NAME_TOKENS = frozenset(
    {
        "company",
        "business",
        "empresa",
        "perusahaan",
        "file",
        "user",
        "username",
        "group",
        "shop",
        "store",
        "product",
        "father",
        "mother",
        "fathers",
        "mothers",
        "ayah",
        "ibu",
        "pai",
        "mae",
        "padre",
        "madre",
        "pere",
        "mere",
        "vater",
        "mutter",
        "firma",
        "entreprise",
        "societe",
        "produto",
        "producto",
        "item",
        "account",
        "bank",
        "street",
        "city",
        "school",
        "last",
        "first",
        "sur",
        "family",
        "middle",
    }
)
_FIRST_NAME = frozenset(
    {
        "first name",
        "firstname",
        "first",
        "given name",
        "forename",
        "prenom",
        "vorname",
        "primer nombre",
        "primeiro nome",
        "nama depan",
        "nombre de pila",
        "prenoms",
    }
)
_LAST_NAME = frozenset(
    {
        "last name",
        "lastname",
        "last",
        "surname",
        "family name",
        "apellido",
        "apellidos",
        "sobrenome",
        "nom de famille",
        "nachname",
        "nama belakang",
        "familienname",
        "primer apellido",
        "ultimo nome",
        "apelido",
    }
)
# With a last-name column beside it, these mean the first name ("Nombre" + "Apellido").
_GIVEN_IF_LAST = frozenset({"name", "nombre", "nombres", "nome", "nama", "nom", "naam"})
# With a first-name column beside it, these mean the surname ("Prénom" + "Nom", "Vorname" +
# "Name").
_SURNAME_IF_FIRST = frozenset({"nom", "name"})
_OPT_OUT = frozenset(
    {
        "opted out",
        "opt out",
        "optout",
        "opted out at",
        "unsubscribed",
        "do not contact",
        "dnd",
        "no contactar",
        "descadastrado",
        "berhenti langganan",
    }
)
_OPT_OUT_REASON = frozenset({"opt out reason", "opted out reason", "reason for opt out"})
#: Columns of waapp's own contacts export that are not contact data (re-import skips them).
_OWN_EXPORT_COLUMNS = frozenset({"last reply", "added", "groups"})
_RESERVED_FIELDS = frozenset({"name", "phone"})


def _normalised_keys(table: dict[str, int]) -> dict[str, int]:
    return {normalise_header(word): score for word, score in table.items()}


def _normalised_set(words: frozenset[str]) -> frozenset[str]:
    return frozenset(normalise_header(word) for word in words)


# The tables hold words as people write them; compare them as headers are compared (this
# also makes non-Latin words, whose vowel signs normalisation drops, match).
_PHONE_WORDS = _normalised_keys(_PHONE_WORDS)
_PHONE_TOKENS = _normalised_keys(_PHONE_TOKENS)
_NAME_WORDS = _normalised_keys(_NAME_WORDS)
_FIRST_NAME = _normalised_set(_FIRST_NAME)
_LAST_NAME = _normalised_set(_LAST_NAME)
_OPT_OUT = _normalised_set(_OPT_OUT)


def _phone_score(header: str) -> int:
    if not header:
        return 0
    if header in _PHONE_WORDS:
        return _PHONE_WORDS[header]
    tokens = header.split()
    if _NOT_PHONE_TOKENS & set(tokens):
        return 0
    return max((_PHONE_TOKENS.get(t, 0) for t in tokens), default=0)


def _name_score(header: str) -> int:
    if not header:
        return 0
    if header in _NAME_WORDS:
        return _NAME_WORDS[header]
    tokens = set(header.split())
    if tokens & _NOT_NAME_TOKENS:
        return 0
    if tokens & {"name", "nombre", "nome", "nama", "naam"}:
        return 2
    return 0


def _phone_values(sample_rows: Sequence[Sequence[str]], column: int) -> tuple[int, int]:
    """(cells shaped like phone numbers, cells valid as international numbers)."""
    shaped = valid = 0
    for row in sample_rows:
        if column < len(row) and looks_like_phone(row[column]):
            shaped += 1
            valid += normalize_phone(row[column].strip()).valid
    return shaped, valid


def unique_field_name(header: str, taken: set[str]) -> str:
    """``header`` as a custom field name: spaces collapsed, and made unique (ignoring case)
    against ``taken`` — which it joins — and the built-in "name" and "phone" ("Phone (2)")."""
    base = " ".join(header.split())
    candidate = base
    counter = 2
    while candidate.casefold() in taken or candidate.casefold() in _RESERVED_FIELDS:
        candidate = f"{base} ({counter})"
        counter += 1
    taken.add(candidate.casefold())
    return candidate


def guess_mapping(
    headers: Sequence[str], sample_rows: Sequence[Sequence[str]] = ()
) -> ColumnMapping | None:
    """A mapping guessed from header words (English, Spanish, Portuguese, Indonesian,
    French, German, Hindi and a few more), or None when no column can hold the phone.

    The phone column is the best header word (WhatsApp > mobile > phone > number), ties
    broken by which sample values look like phone numbers; without any header word, the
    column whose sample values look like phone numbers most often. Name: a full-name column,
    or first + last name columns (``name_parts``). Every other column with a header becomes
    a custom field named by its trimmed header (made unique; never "name" or "phone"),
    except an opt-out column and the bookkeeping columns of waapp's own export.
    """
    normal = [normalise_header(h) for h in headers]
    width = max([len(normal), *(len(row) for row in sample_rows)], default=0)
    normal += [""] * (width - len(normal))

    def sample_score(column: int) -> tuple[int, int]:
        return _phone_values(sample_rows, column)

    scored = [(score, column) for column, h in enumerate(normal) if (score := _phone_score(h))]
    with_values = [(score, column) for score, column in scored if sample_score(column)[0]]
    if with_values:
        scored = with_values  # "Order number" holds 1, 2, 3; "Mobile" holds numbers
    if scored:
        top = max(score for score, _ in scored)
        ties = [column for score, column in scored if score == top]
        phone = max(ties, key=lambda c: (sample_score(c), -c))
    else:
        counts = [(sample_score(c), -c) for c in range(width)]
        best = max(counts, default=((0, 0), 0))
        if best[0][0] == 0:
            return None
        phone = -best[1]

    taken = {phone}
    opt_out = next((c for c, h in enumerate(normal) if h in _OPT_OUT and c not in taken), None)
    if opt_out is not None:
        taken.add(opt_out)
    reason = next((c for c, h in enumerate(normal) if h in _OPT_OUT_REASON), None)
    if reason is not None:
        taken.add(reason)

    last = next((c for c, h in enumerate(normal) if h in _LAST_NAME and c not in taken), None)
    first = next((c for c, h in enumerate(normal) if h in _FIRST_NAME and c not in taken), None)
    if last is not None and first is None:
        first = next(
            (c for c, h in enumerate(normal) if h in _GIVEN_IF_LAST and c not in taken), None
        )
    if first is not None and last is None:
        last = next(
            (c for c, h in enumerate(normal) if h in _SURNAME_IF_FIRST and c not in taken), None
        )
    name: int | None = None
    name_parts: list[int] = []
    full = [(s, c) for c, h in enumerate(normal) if c not in taken and (s := _name_score(h))]
    full = [(s, c) for s, c in full if c not in (first, last)]
    if full:
        name = max(full, key=lambda sc: (sc[0], -sc[1]))[1]
        taken.add(name)
    elif first is not None and last is not None:
        name_parts = [first, last]
        taken.update(name_parts)
    elif first is not None:
        name = first
        taken.add(first)
    elif last is not None:
        name = last
        taken.add(last)

    fields: dict[int, str] = {}
    names_taken: set[str] = set()
    for column, header in enumerate(headers):
        if column in taken or not header.strip() or normal[column] in _OWN_EXPORT_COLUMNS:
            continue
        fields[column] = unique_field_name(header, names_taken)
    return ColumnMapping(
        phone=phone,
        name=name,
        fields=fields,
        name_parts=name_parts,
        opt_out=opt_out,
        opt_out_reason=reason,
    )
