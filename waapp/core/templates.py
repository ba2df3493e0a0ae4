"""Message placeholders: parsing, mapping to contact fields, rendering and provider limits.

Placeholders follow WhatsApp's two formats, and one template uses only one of them:

* positional ``{{1}}``, ``{{2}}`` … numbered from 1 without gaps;
* named ``{{first_name}}``: lowercase letters, digits and underscores, starting with a letter.

WhatsApp allows no spaces inside the braces, so ``{{ 1 }}`` is an error here too, with a
message that says how to write it. A placeholder is identified by what is between the braces
(``"1"``, ``"first_name"``); mappings and rendered variables are keyed that way.

Each placeholder is mapped to a :class:`VariableSource`: a contact field or fixed text.
``Campaign.variable_mapping`` stores the dict form, ``{"field": "city"}`` / ``{"text": "…"}``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from waapp.core.entities import AccountKind, Contact, PlaceholderFormat, TemplateKind
from waapp.core.errors import RenderError, ValidationError

#: An approved template's body after substitution: Twilio fails with 63021 when template and
#: parameters exceed 1,024 characters (providers.md §1.3); Meta answers 132005 (text too
#: long after substitution, §2.3).
TEMPLATE_BODY_MAX_CHARS = 1024
#: Twilio's ``Body`` for free-form messages (providers.md §1.2).
TWILIO_BODY_MAX_CHARS = 1600
#: WhatsApp's own limit for a text message body (Meta Cloud API ``text.body``), which Kapso
#: passes through unchanged; used for WaSender and the Sandbox as well.
WHATSAPP_TEXT_MAX_CHARS = 4096
#: Meta rejects a template parameter with a line break, a tab or more than this many
#: consecutive spaces (an invalid parameter value, 131008/132012 per providers.md §2.3).
MAX_CONSECUTIVE_SPACES = 4

#: Fields every contact has, whatever the spreadsheet held (see :func:`contact_values`).
BUILTIN_FIELDS: tuple[str, ...] = ("name", "first_name", "phone")

_POSITIONAL_RE = re.compile(r"[1-9][0-9]*")
_NAMED_RE = re.compile(r"[a-z][a-z0-9_]*")
_TOKEN_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
# After a successful parse every "{{…}}" is one of these; rendering replaces them in one
# pass, so a value that itself contains "{{1}}" is never substituted again.
_VALID_TOKEN_RE = re.compile(r"\{\{([1-9][0-9]*|[a-z][a-z0-9_]*)\}\}")
_TOO_MANY_SPACES_RE = re.compile(f" {{{MAX_CONSECUTIVE_SPACES + 1},}}")

_HOW_TO_WRITE = (
    "use {{1}}, {{2}} … or a name of lowercase letters, digits and underscores that starts "
    "with a letter, such as {{first_name}}"
)


@dataclass(frozen=True, slots=True)
class Placeholders:
    """The distinct placeholders of a text, in order of first appearance, and their format.

    A text without placeholders reports ``POSITIONAL``, Meta's default ``parameter_format``.
    """

    names: tuple[str, ...]
    format: PlaceholderFormat

    @property
    def send_order(self) -> tuple[str, ...]:
        """The order providers expect the values in: by number for positional ones."""
        if self.format is PlaceholderFormat.POSITIONAL:
            return tuple(sorted(self.names, key=int))
        return self.names


@dataclass(frozen=True, slots=True)
class VariableSource:
    """Where a placeholder's value comes from: a contact ``field`` or fixed ``text``.

    Exactly one of the two is set (``ValidationError`` otherwise). Fixed text may be empty
    here; :func:`validate_mapping` reports it, so an editor can hold a half-filled mapping.
    """

    field: str | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if (self.field is None) == (self.text is None):
            raise ValidationError("A variable comes either from a contact field or fixed text.")

    def to_dict(self) -> dict[str, str]:
        """The stored form: ``{"field": name}`` or ``{"text": fixed}``."""
        if self.field is not None:
            return {"field": self.field}
        return {"text": self.text or ""}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VariableSource:
        """Read the stored form; ``ValidationError`` for anything else."""
        keys = set(data)
        if keys == {"field"} and isinstance(data["field"], str):
            return cls(field=data["field"])
        if keys == {"text"} and isinstance(data["text"], str):
            return cls(text=data["text"])
        raise ValidationError(
            f"A variable mapping must be {{'field': name}} or {{'text': fixed text}}, "
            f"not {dict(data)!r}."
        )

    def describe(self) -> str:
        """For the UI and messages: “the field “city”” or “the fixed text “…””."""
        if self.field is not None:
            return f"the field “{self.field}”"
        return f"the fixed text “{self.text}”"


@dataclass(frozen=True, slots=True)
class Rendered:
    """A text with its placeholders filled in, and the value of each (in send order)."""

    text: str
    variables: dict[str, str]


def placeholder_problems(text: str) -> list[str]:
    """Every reason ``text``'s placeholders are not acceptable, in plain language; [] if fine."""
    problems, _ = _scan(text)
    return problems


def parse_placeholders(text: str) -> Placeholders:
    """The placeholders of ``text``; ``ValidationError`` listing every problem found.

    Problems: malformed braces (spaces inside, unclosed ``{{``, stray ``}}``, empty or extra
    braces), names that are not lowercase/digits/underscores starting with a letter,
    positional numbers not 1..n without gaps, and mixing positional with named.
    """
    problems, names = _scan(text)
    if problems:
        raise ValidationError(
            "The message's placeholders need fixing: " + "; ".join(problems) + ".",
            what_to_do="Correct the placeholders in the message text.",
        )
    if names and not _POSITIONAL_RE.fullmatch(names[0]):
        return Placeholders(tuple(names), PlaceholderFormat.NAMED)
    return Placeholders(tuple(names), PlaceholderFormat.POSITIONAL)


def _scan(text: str) -> tuple[list[str], list[str]]:
    """(problems, distinct placeholder names in order of first appearance)."""
    problems: list[str] = []
    names: list[str] = []
    position = 0
    for match in _TOKEN_RE.finditer(text):
        _check_gap(text[position : match.start()], problems)
        position = match.end()
        inner = match.group(1)
        if inner.startswith("{"):
            # "{{{1}}}": report the whole run of braces, not just the part the regex matched.
            while position < len(text) and text[position] == "}":
                position += 1
        token = text[match.start() : position]
        problem = _token_problem(token, inner)
        if problem is not None:
            problems.append(problem)
        elif inner not in names:
            names.append(inner)
    _check_gap(text[position:], problems)

    positional = [n for n in names if _POSITIONAL_RE.fullmatch(n)]
    named = [n for n in names if not _POSITIONAL_RE.fullmatch(n)]
    if positional and named:
        problems.append(
            f"it mixes numbered ({{{{{positional[0]}}}}}) and named ({{{{{named[0]}}}}}) "
            "placeholders; WhatsApp allows only one kind in a message"
        )
    elif positional:
        numbers = {int(n) for n in positional}
        missing = sorted(set(range(1, max(numbers) + 1)) - numbers)
        if missing:
            shown = ", ".join(f"{{{{{n}}}}}" for n in missing)
            problems.append(
                f"numbered placeholders must run from {{{{1}}}} to {{{{{max(numbers)}}}}} "
                f"without gaps; missing: {shown}"
            )
    return problems, names


def _check_gap(gap: str, problems: list[str]) -> None:
    """Text between placeholders may hold single braces but no lone ``{{`` or ``}}``."""
    if "{{" in gap:
        problems.append("a “{{” is never closed with “}}”")
    if "}}" in gap:
        problems.append("a “}}” has no “{{” before it")


def _token_problem(token: str, inner: str) -> str | None:
    if _POSITIONAL_RE.fullmatch(inner) or _NAMED_RE.fullmatch(inner):
        return None
    stripped = inner.strip()
    if not stripped:
        return f"{token} is empty: {_HOW_TO_WRITE}"
    if "{" in inner or "}" in inner:
        return f"{token} has extra braces: write two on each side, as in {{{{1}}}}"
    if stripped != inner and (_POSITIONAL_RE.fullmatch(stripped) or _NAMED_RE.fullmatch(stripped)):
        return f"{token} has spaces inside the braces: write {{{{{stripped}}}}}"
    if stripped.isdigit():
        return f"{token}: numbered placeholders start at {{{{1}}}}, without leading zeros"
    lowered = stripped.lower()
    if _NAMED_RE.fullmatch(lowered):
        return f"{token}: names use lowercase letters only: write {{{{{lowered}}}}}"
    return f"{token} is not a valid placeholder: {_HOW_TO_WRITE}"


# --- mapping -----------------------------------------------------------------------------


def mapping_from_dict(data: Mapping[str, Mapping[str, Any]]) -> dict[str, VariableSource]:
    """``Campaign.variable_mapping`` → placeholder → :class:`VariableSource`."""
    return {name: VariableSource.from_dict(source) for name, source in data.items()}


def mapping_to_dict(mapping: Mapping[str, VariableSource]) -> dict[str, dict[str, str]]:
    """Placeholder → :class:`VariableSource` → the form ``Campaign.variable_mapping`` stores."""
    return {name: source.to_dict() for name, source in mapping.items()}


def validate_mapping(
    placeholders: Placeholders,
    mapping: Mapping[str, VariableSource],
    *,
    available_fields: Collection[str],
) -> list[str]:
    """Problems with ``mapping`` for ``placeholders``, in plain language; [] when complete.

    Reported: a placeholder without a mapping, a field no contact has (``available_fields``
    plus :data:`BUILTIN_FIELDS`), empty fixed text, and a mapping for a placeholder the text
    does not use.
    """
    fields = set(available_fields) | set(BUILTIN_FIELDS)
    problems: list[str] = []
    for name in placeholders.names:
        source = mapping.get(name)
        label = f"{{{{{name}}}}}"
        if source is None:
            problems.append(f"{label} is not mapped to a contact field or fixed text")
        elif source.field is not None:
            if not source.field:
                problems.append(f"{label} has no contact field chosen")
            elif source.field not in fields:
                problems.append(f"{label} uses the field “{source.field}”, which contacts lack")
        elif not (source.text or "").strip():
            problems.append(f"{label} is mapped to empty fixed text")
    used = set(placeholders.names)
    problems.extend(
        f"there is a mapping for {{{{{name}}}}}, which the message does not use"
        for name in mapping
        if name not in used
    )
    return problems


def contact_values(contact: Contact) -> dict[str, str]:
    """The values a placeholder can draw from for ``contact``.

    ``name``, ``phone`` (E.164) and ``first_name`` (the first word of the name), plus every
    custom field. ``name`` and ``phone`` always come from the contact itself; a custom field
    called ``first_name`` (a spreadsheet column) wins over the derived one when not empty.
    """
    values = dict(contact.fields)
    words = contact.name.split()
    if not values.get("first_name", "").strip():
        values["first_name"] = words[0] if words else ""
    values["name"] = contact.name.strip()
    values["phone"] = contact.phone_e164
    return values


def render(
    text: str,
    mapping: Mapping[str, VariableSource],
    values: Mapping[str, str],
    *,
    contact_label: str = "",
) -> Rendered:
    """``text`` with each placeholder replaced by its mapped value.

    Field values are stripped of surrounding whitespace (spreadsheet noise); fixed text is
    used as written. Raises ``ValidationError`` when ``text``'s placeholders are malformed
    and ``RenderError`` — naming the placeholder, the field and ``contact_label`` — when a
    placeholder is unmapped or its value is missing or empty.
    """
    placeholders = parse_placeholders(text)
    who = contact_label or "this contact"
    variables: dict[str, str] = {}
    for name in placeholders.send_order:
        label = f"{{{{{name}}}}}"
        source = mapping.get(name)
        if source is None:
            raise RenderError(f"{label} is not mapped to a contact field or fixed text.")
        if source.field is not None:
            value = (values.get(source.field) or "").strip()
            if not value:
                raise RenderError(
                    f"{label} uses the field “{source.field}”, which is empty for {who}."
                )
        else:
            value = source.text or ""
            if not value.strip():
                raise RenderError(f"{label} is mapped to empty fixed text.")
        variables[name] = value
    rendered = _VALID_TOKEN_RE.sub(lambda m: variables[m.group(1)], text)
    return Rendered(text=rendered, variables=variables)


# --- limits ------------------------------------------------------------------------------


def freeform_limit(provider: str | None) -> int:
    """The longest free-form body ``provider`` (an ``AccountKind`` value) accepts.

    Unknown or no provider: WhatsApp's own limit; only Twilio is stricter.
    """
    if provider == AccountKind.TWILIO:
        return TWILIO_BODY_MAX_CHARS
    return WHATSAPP_TEXT_MAX_CHARS


def check_limits(
    rendered_text: str, *, kind: TemplateKind, provider: str | None = None
) -> list[str]:
    """Problems with the length of a rendered message body, in plain language; [] if it fits.

    Length is counted in Unicode characters, as the editor shows it.
    """
    length = len(rendered_text)
    if not rendered_text.strip():
        return ["the message is empty"]
    if kind is TemplateKind.APPROVED:
        if length > TEMPLATE_BODY_MAX_CHARS:
            return [
                f"the message is {length:,} characters long with its variables filled in; "
                f"an approved template may have at most {TEMPLATE_BODY_MAX_CHARS:,} — "
                "shorten the variable values or the template"
            ]
        return []
    limit = freeform_limit(provider)
    if length > limit:
        who = "Twilio" if limit == TWILIO_BODY_MAX_CHARS else "WhatsApp"
        return [
            f"the message is {length:,} characters long; {who} accepts at most {limit:,} "
            "in one free-form message — shorten it"
        ]
    return []


def check_variable_values(variables: Mapping[str, str]) -> list[str]:
    """Values Meta refuses as template parameters: line breaks, tabs, more than
    :data:`MAX_CONSECUTIVE_SPACES` spaces in a row, or nothing at all. [] when all are fine.

    Applies to approved templates; free-form text may contain all of these.
    """
    problems: list[str] = []
    for name, value in variables.items():
        label = f"{{{{{name}}}}}"
        if not value.strip():
            problems.append(f"the value of {label} is empty")
            continue
        if "\n" in value or "\r" in value:
            problems.append(
                f"the value of {label} contains a line break, which WhatsApp does not allow "
                "in a template variable"
            )
        if "\t" in value:
            problems.append(
                f"the value of {label} contains a tab, which WhatsApp does not allow in a "
                "template variable"
            )
        if _TOO_MANY_SPACES_RE.search(value):
            problems.append(
                f"the value of {label} has more than {MAX_CONSECUTIVE_SPACES} spaces in a "
                "row, which WhatsApp does not allow in a template variable"
            )
    return problems
