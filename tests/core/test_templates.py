"""Placeholders, variable mappings, rendering and provider limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from waapp.core.entities import AccountKind, Contact, PlaceholderFormat, TemplateKind
from waapp.core.errors import RenderError, ValidationError
from waapp.core.templates import (
    MAX_CONSECUTIVE_SPACES,
    TEMPLATE_BODY_MAX_CHARS,
    TWILIO_BODY_MAX_CHARS,
    WHATSAPP_TEXT_MAX_CHARS,
    Placeholders,
    Rendered,
    VariableSource,
    check_limits,
    check_variable_values,
    contact_values,
    freeform_limit,
    mapping_from_dict,
    mapping_to_dict,
    parse_placeholders,
    placeholder_problems,
    render,
    validate_mapping,
)

POSITIONAL = PlaceholderFormat.POSITIONAL
NAMED = PlaceholderFormat.NAMED

# --- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names", "fmt"),
    [
        ("No placeholders at all.", (), POSITIONAL),
        ("Hi {{1}}, your order {{2}} ships {{3}}.", ("1", "2", "3"), POSITIONAL),
        ("{{2}} before {{1}}, then {{2}} again", ("2", "1"), POSITIONAL),
        ("Hi {{first_name}}, {{city}} {{first_name}}", ("first_name", "city"), NAMED),
        ("Code {{code_2}} for {{a}}", ("code_2", "a"), NAMED),
        ("Braces {alone} and }single{ are text: {{1}}", ("1",), POSITIONAL),
        (
            "{{10}}{{9}}{{8}}{{7}}{{6}}{{5}}{{4}}{{3}}{{2}}{{1}}",
            tuple(str(n) for n in range(10, 0, -1)),
            POSITIONAL,
        ),
    ],
)
def test_parse(text: str, names: tuple[str, ...], fmt: PlaceholderFormat) -> None:
    assert parse_placeholders(text) == Placeholders(names, fmt)
    assert placeholder_problems(text) == []


def test_send_order_sorts_positional_by_number() -> None:
    assert parse_placeholders(
        "{{2}} {{10}} {{1}} {{3}} {{4}} {{5}} {{6}} {{7}} {{8}} {{9}}"
    ).send_order == tuple(str(n) for n in range(1, 11))
    assert parse_placeholders("{{b}} {{a}}").send_order == ("b", "a")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi {{ 1 }}", "{{ 1 }} has spaces inside the braces: write {{1}}"),
        ("Hi {{first_name }}", "write {{first_name}}"),
        ("{{1}} and {{name}}", "mixes numbered ({{1}}) and named ({{name}})"),
        ("{{1}} {{3}}", "missing: {{2}}"),
        ("{{2}}", "missing: {{1}}"),
        ("{{0}}", "start at {{1}}"),
        ("{{01}}", "without leading zeros"),
        ("{{First_Name}}", "write {{first_name}}"),
        ("{{}}", "{{}} is empty"),
        ("{{ }}", "is empty"),
        ("{{{1}}}", "{{{1}}} has extra braces"),
        ("Hi {{1", "never closed"),
        ("Hi 1}}", "has no “{{” before it"),
        ("{{first name}}", "is not a valid placeholder"),
        ("{{_name}}", "is not a valid placeholder"),
        ("{{1name}}", "is not a valid placeholder"),
        ("{{é}}", "is not a valid placeholder"),
    ],
)
def test_parse_errors(text: str, expected: str) -> None:
    problems = placeholder_problems(text)
    assert any(expected in p for p in problems), problems
    with pytest.raises(ValidationError) as caught:
        parse_placeholders(text)
    assert expected in caught.value.message


def test_parse_reports_every_problem_at_once() -> None:
    problems = placeholder_problems("{{ 1 }} {{Name}} {{3}}")
    assert len(problems) == 3


# --- variable sources and mapping ----------------------------------------------------------


def test_variable_source_exactly_one() -> None:
    with pytest.raises(ValidationError):
        VariableSource()
    with pytest.raises(ValidationError):
        VariableSource(field="city", text="Pune")


@pytest.mark.parametrize(
    ("source", "stored"),
    [
        (VariableSource(field="city"), {"field": "city"}),
        (VariableSource(text="Diwali sale"), {"text": "Diwali sale"}),
        (VariableSource(text=""), {"text": ""}),
    ],
)
def test_variable_source_round_trip(source: VariableSource, stored: dict[str, str]) -> None:
    assert source.to_dict() == stored
    assert VariableSource.from_dict(stored) == source


@pytest.mark.parametrize(
    "bad", [{}, {"field": "a", "text": "b"}, {"column": "a"}, {"field": 3}, {"text": None}]
)
def test_variable_source_from_bad_dict(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        VariableSource.from_dict(bad)


def test_mapping_dict_round_trip() -> None:
    stored = {"1": {"field": "first_name"}, "2": {"text": "FALL25"}}
    mapping = mapping_from_dict(stored)
    assert mapping == {"1": VariableSource(field="first_name"), "2": VariableSource(text="FALL25")}
    assert mapping_to_dict(mapping) == stored


def test_validate_mapping_complete() -> None:
    placeholders = parse_placeholders("Hi {{1}}, {{2}} in {{3}}")
    mapping = {
        "1": VariableSource(field="first_name"),  # built-in, always available
        "2": VariableSource(text="50% off"),
        "3": VariableSource(field="city"),
    }
    assert validate_mapping(placeholders, mapping, available_fields={"city"}) == []


def test_validate_mapping_problems() -> None:
    placeholders = parse_placeholders("{{name}} {{city}} {{code}} {{shop}} {{x}}")
    mapping = {
        "name": VariableSource(field="name"),
        "city": VariableSource(field="town"),
        "code": VariableSource(text="  "),
        "shop": VariableSource(field=""),
        "extra": VariableSource(text="unused"),
    }
    problems = validate_mapping(placeholders, mapping, available_fields=["city"])
    assert problems == [
        "{{city}} uses the field “town”, which contacts lack",
        "{{code}} is mapped to empty fixed text",
        "{{shop}} has no contact field chosen",
        "{{x}} is not mapped to a contact field or fixed text",
        "there is a mapping for {{extra}}, which the message does not use",
    ]


# --- contact values and rendering ---------------------------------------------------------


def _maria() -> Contact:
    return Contact(
        phone_e164="+917033009600", name=" Maria  da Silva ", fields={"city": "Pune", "order": ""}
    )


def test_contact_values() -> None:
    values = contact_values(_maria())
    assert values == {
        "city": "Pune",
        "order": "",
        "name": "Maria  da Silva",
        "first_name": "Maria",
        "phone": "+917033009600",
    }


def test_contact_values_prefer_a_first_name_column_but_never_override_name_or_phone() -> None:
    contact = Contact(
        phone_e164="+917033009600",
        name="Dr. Maria Silva",
        fields={"first_name": "Maria", "name": "ignored", "phone": "ignored"},
    )
    values = contact_values(contact)
    assert values["first_name"] == "Maria"
    assert values["name"] == "Dr. Maria Silva"
    assert values["phone"] == "+917033009600"


def test_contact_values_without_name() -> None:
    values = contact_values(Contact(phone_e164="+917033009600"))
    assert values["first_name"] == ""
    assert values["name"] == ""


def test_render_positional() -> None:
    mapping = {"1": VariableSource(field="first_name"), "2": VariableSource(text="FALL25")}
    rendered = render("Hi {{1}}, use {{2}}. Again: {{1}}", mapping, contact_values(_maria()))
    assert rendered == Rendered(
        text="Hi Maria, use FALL25. Again: Maria", variables={"1": "Maria", "2": "FALL25"}
    )


def test_render_named_and_strips_field_values() -> None:
    mapping = {
        "first_name": VariableSource(field="first_name"),
        "city": VariableSource(field="city"),
    }
    rendered = render(
        "{{first_name}} from {{city}}", mapping, {"first_name": " Ana ", "city": "Rio"}
    )
    assert rendered.text == "Ana from Rio"
    assert rendered.variables == {"first_name": "Ana", "city": "Rio"}


def test_render_variables_in_send_order() -> None:
    mapping = {"1": VariableSource(text="a"), "2": VariableSource(text="b")}
    assert list(render("{{2}} {{1}}", mapping, {}).variables) == ["1", "2"]


def test_render_does_not_substitute_inside_values() -> None:
    mapping = {"1": VariableSource(field="note"), "2": VariableSource(text="two")}
    rendered = render("{{1}} / {{2}}", mapping, {"note": "literal {{2}}"})
    assert rendered.text == "literal {{2}} / two"


def test_render_text_without_placeholders() -> None:
    assert render("Plain text", {}, {}) == Rendered("Plain text", {})


@pytest.mark.parametrize("value", [None, "", "   "])
def test_render_missing_value_names_placeholder_field_and_contact(value: str | None) -> None:
    values = {} if value is None else {"order": value}
    mapping = {"1": VariableSource(field="order")}
    with pytest.raises(RenderError) as caught:
        render("Order {{1}}", mapping, values, contact_label="Maria (+91 70330 09600)")
    message = caught.value.message
    assert "{{1}}" in message
    assert "“order”" in message
    assert "Maria (+91 70330 09600)" in message


def test_render_unmapped_placeholder() -> None:
    with pytest.raises(RenderError, match=r"\{\{2\}\} is not mapped"):
        render("{{1}} {{2}}", {"1": VariableSource(text="x")}, {})


def test_render_empty_fixed_text() -> None:
    with pytest.raises(RenderError, match="empty fixed text"):
        render("{{1}}", {"1": VariableSource(text=" ")}, {})


def test_render_malformed_text_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        render("{{ 1 }}", {"1": VariableSource(text="x")}, {})


PLACEHOLDER = st.one_of(
    st.integers(min_value=1, max_value=5).map(str),
    st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
)
SAFE_VALUE = st.text(alphabet=st.characters(exclude_characters="{}"), min_size=1).filter(
    lambda v: v.strip() != ""
)
PLAIN_TEXT = st.text(alphabet=st.characters(exclude_characters="{}"), max_size=20)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), positional=st.booleans())
def test_render_leaves_no_mapped_placeholder(data: st.DataObject, positional: bool) -> None:
    if positional:
        count = data.draw(st.integers(min_value=1, max_value=6))
        names = [str(n) for n in range(1, count + 1)]
    else:
        names = data.draw(
            st.lists(
                st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
                min_size=1,
                max_size=6,
                unique=True,
            )
        )
    order = data.draw(st.lists(st.sampled_from(names), min_size=len(names), max_size=12))
    order = list(dict.fromkeys([*names, *order]))
    pieces = [data.draw(PLAIN_TEXT) + f"{{{{{name}}}}}" for name in order]
    text = "".join(pieces) + data.draw(PLAIN_TEXT)
    values = {name: data.draw(SAFE_VALUE) for name in names}
    mapping = {name: VariableSource(field=f"f_{name}") for name in names}
    fields = {f"f_{name}": value for name, value in values.items()}

    rendered = render(text, mapping, fields)

    assert "{{" not in rendered.text
    assert set(rendered.variables) == set(names)
    assert rendered.variables == {name: values[name].strip() for name in names}


# --- limits ------------------------------------------------------------------------------


def test_limit_constants() -> None:
    assert TEMPLATE_BODY_MAX_CHARS == 1024
    assert TWILIO_BODY_MAX_CHARS == 1600
    assert WHATSAPP_TEXT_MAX_CHARS == 4096


@pytest.mark.parametrize("provider", [None, *AccountKind])
def test_approved_template_limit_at_the_boundary(provider: str | None) -> None:
    assert check_limits("x" * 1024, kind=TemplateKind.APPROVED, provider=provider) == []
    problems = check_limits("x" * 1025, kind=TemplateKind.APPROVED, provider=provider)
    assert len(problems) == 1
    assert "1,025" in problems[0]
    assert "1,024" in problems[0]


@pytest.mark.parametrize(
    ("provider", "limit"),
    [
        (AccountKind.TWILIO, 1600),
        ("twilio", 1600),
        (AccountKind.META, 4096),
        (AccountKind.KAPSO, 4096),
        (AccountKind.WASENDER, 4096),
        (AccountKind.SANDBOX, 4096),
        (None, 4096),
    ],
)
def test_freeform_limit_at_the_boundary(provider: str | None, limit: int) -> None:
    assert freeform_limit(provider) == limit
    assert check_limits("y" * limit, kind=TemplateKind.FREEFORM, provider=provider) == []
    problems = check_limits("y" * (limit + 1), kind=TemplateKind.FREEFORM, provider=provider)
    assert len(problems) == 1
    assert f"{limit:,}" in problems[0]


def test_empty_message_is_a_problem() -> None:
    assert check_limits("  ", kind=TemplateKind.FREEFORM) == ["the message is empty"]


def test_variable_values_fine() -> None:
    assert check_variable_values({"1": "Maria", "2": "a  b    c", "3": "€ 12,50"}) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("two\nlines", "line break"),
        ("two\r\nlines", "line break"),
        ("tab\there", "a tab"),
        (
            "a" + " " * (MAX_CONSECUTIVE_SPACES + 1) + "b",
            f"more than {MAX_CONSECUTIVE_SPACES} spaces",
        ),
        ("", "is empty"),
        ("   ", "is empty"),
    ],
)
def test_variable_values_refused(value: str, expected: str) -> None:
    problems = check_variable_values({"1": "fine", "2": value})
    assert len(problems) == 1
    assert "{{2}}" in problems[0]
    assert expected in problems[0]


def test_variable_value_with_every_problem_reports_each() -> None:
    assert len(check_variable_values({"1": "a\n\tb      c"})) == 3
