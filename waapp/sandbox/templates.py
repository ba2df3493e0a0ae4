"""The templates the Sandbox ships, in Meta's and Twilio's shapes, and their send-time checks.

Every template exists once per dialect: Meta knows it by name and language (and a numeric
template id), Twilio by a content SID (``HX…``). WaSender has no templates.

=================  =========  ==========  ==========  ==================================
name               language   category    format      status
=================  =========  ==========  ==========  ==================================
hello_world        en_US      UTILITY     POSITIONAL  APPROVED (Meta's own sample, no
                                                      variables)
order_update       en_US      UTILITY     POSITIONAL  APPROVED, ``{{1}}`` ``{{2}}``
welcome_named      en_US      MARKETING   NAMED       APPROVED, ``{{first_name}}``
                                                      ``{{code}}``
spring_sale        en_US      MARKETING   POSITIONAL  PENDING (sending it: Meta 132001,
                                                      Twilio 63027)
=================  =========  ==========  ==========  ==================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_PLACEHOLDER_RE = re.compile(r"\{\{([a-z0-9_]+)\}\}")
#: Meta refuses parameter values with a line break or tab, or more than four spaces in a row.
_BAD_PARAMETER_RE = re.compile(r"[\n\t]| {5,}")
TEMPLATE_BODY_MAX_CHARS = 1024


@dataclass(frozen=True, slots=True)
class Template:
    template_id: str
    content_sid: str
    name: str
    language: str
    category: str
    status: str
    parameter_format: str
    body: str
    examples: tuple[str, ...] = ()
    header: str | None = None
    footer: str | None = None
    quick_replies: tuple[str, ...] = ()

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_PLACEHOLDER_RE.findall(self.body)))

    def render(self, values: Mapping[str, str]) -> str:
        return _PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), self.body)

    def default_values(self) -> dict[str, str]:
        return dict(zip(self.placeholders, self.examples, strict=False))


def _sid(n: int) -> str:
    return f"HX{n:032x}"


TEMPLATES: tuple[Template, ...] = (
    Template(
        template_id="1000000000000001",
        content_sid=_sid(1),
        name="hello_world",
        language="en_US",
        category="UTILITY",
        status="APPROVED",
        parameter_format="POSITIONAL",
        header="Hello World",
        body=(
            "Welcome and congratulations!! This message demonstrates your ability to send a "
            "WhatsApp message notification from the Cloud API, hosted by Meta. Thank you for "
            "taking the time to test with us."
        ),
        footer="WhatsApp Business Platform sample message",
    ),
    Template(
        template_id="1000000000000002",
        content_sid=_sid(2),
        name="order_update",
        language="en_US",
        category="UTILITY",
        status="APPROVED",
        parameter_format="POSITIONAL",
        body="Hi {{1}}, your order {{2}} is on its way.",
        examples=("Maria", "#1234"),
        footer="Reply STOP to opt out",
    ),
    Template(
        template_id="1000000000000003",
        content_sid=_sid(3),
        name="welcome_named",
        language="en_US",
        category="MARKETING",
        status="APPROVED",
        parameter_format="NAMED",
        body="Welcome {{first_name}}! Use code {{code}} for 10% off your first order.",
        examples=("Maria", "HELLO10"),
        quick_replies=("Stop promotions",),
    ),
    Template(
        template_id="1000000000000004",
        content_sid=_sid(4),
        name="spring_sale",
        language="en_US",
        category="MARKETING",
        status="PENDING",
        parameter_format="POSITIONAL",
        body="Our spring sale starts {{1}}: everything {{2}} off.",
        examples=("tomorrow", "20%"),
    ),
)


# --- Meta ------------------------------------------------------------------------------------


def meta_components(template: Template) -> list[dict[str, Any]]:
    components: list[dict[str, Any]] = []
    if template.header is not None:
        components.append({"type": "HEADER", "format": "TEXT", "text": template.header})
    body: dict[str, Any] = {"type": "BODY", "text": template.body}
    if template.examples:
        if template.parameter_format == "NAMED":
            body["example"] = {
                "body_text_named_params": [
                    {"param_name": name, "example": example}
                    for name, example in zip(template.placeholders, template.examples, strict=False)
                ]
            }
        else:
            body["example"] = {"body_text": [list(template.examples)]}
    components.append(body)
    if template.footer is not None:
        components.append({"type": "FOOTER", "text": template.footer})
    if template.quick_replies:
        components.append(
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": text} for text in template.quick_replies
                ],
            }
        )
    return components


def meta_template_json(template: Template, status: str) -> dict[str, Any]:
    return {
        "id": template.template_id,
        "name": template.name,
        "language": template.language,
        "status": status,
        "category": template.category,
        "parameter_format": template.parameter_format,
        "components": meta_components(template),
        "quality_score": {
            "score": "GREEN" if status == "APPROVED" else "UNKNOWN",
            "date": 1735689600,
        },
        "message_send_ttl_seconds": 2592000 if template.category == "MARKETING" else 86400,
    }


@dataclass(frozen=True, slots=True)
class MetaTemplateProblem:
    """Why Meta refuses a template send: its error code and the ``error_data.details``."""

    code: int
    message: str
    details: str


def meta_parameters(
    template: Template, components: Any
) -> tuple[dict[str, str] | None, MetaTemplateProblem | None]:
    """Check the ``components`` of a template send against ``template``; the values keyed by
    placeholder, or the problem (132000 count mismatch, 131009 invalid value, 132005 too long,
    131008 malformed)."""
    if components is None:
        components = []
    if not isinstance(components, list):
        return None, MetaTemplateProblem(
            131008, "Required parameter is missing", "template.components must be a list"
        )
    body_params: list[Any] = []
    for component in components:
        if not isinstance(component, Mapping):
            return None, MetaTemplateProblem(
                131008, "Required parameter is missing", "template.components: expected objects"
            )
        if str(component.get("type", "")).lower() == "body":
            params = component.get("parameters", [])
            if not isinstance(params, list):
                return None, MetaTemplateProblem(
                    131008, "Required parameter is missing", "body.parameters must be a list"
                )
            body_params.extend(params)
    expected = template.placeholders
    if len(body_params) != len(expected):
        return None, MetaTemplateProblem(
            132000,
            "Number of parameters does not match the expected number of params",
            f"body: number of localizable_params ({len(body_params)}) does not match the expected number of params ({len(expected)})",
        )
    values: dict[str, str] = {}
    for index, param in enumerate(body_params):
        if not isinstance(param, Mapping):
            return None, MetaTemplateProblem(
                131008, "Required parameter is missing", "body.parameters: expected objects"
            )
        kind = param.get("type", "text")
        if kind == "text":
            value = param.get("text")
        elif kind in ("currency", "date_time"):
            value = (
                (param.get(kind) or {}).get("fallback_value")
                if isinstance(param.get(kind), Mapping)
                else None
            )
        else:
            return None, MetaTemplateProblem(
                132012,
                "Parameter format does not match format in the created template",
                f"body: parameter type {kind!r} not valid here",
            )
        if not isinstance(value, str) or not value:
            return None, MetaTemplateProblem(
                131008,
                "Required parameter is missing",
                f"body.parameters[{index}]: text is required",
            )
        if _BAD_PARAMETER_RE.search(value):
            return None, MetaTemplateProblem(
                131009,
                "Parameter value is not valid",
                "Param text cannot have new-line/tab characters or more than 4 consecutive spaces",
            )
        if template.parameter_format == "NAMED":
            name = param.get("parameter_name")
            if name not in expected:
                return None, MetaTemplateProblem(
                    132000,
                    "Number of parameters does not match the expected number of params",
                    f"body: parameter_name {name!r} is not one of {', '.join(expected)}",
                )
            values[str(name)] = value
        else:
            values[expected[index]] = value
    if len(template.render(values)) > TEMPLATE_BODY_MAX_CHARS:
        return None, MetaTemplateProblem(
            132005,
            "Translated text too long",
            "The template body is longer than 1024 characters after substitution",
        )
    return values, None


# --- Twilio Content API ------------------------------------------------------------------------


def _twilio_language(language: str) -> str:
    return language.split("_", 1)[0]


def twilio_content_json(
    template: Template, *, account_sid: str, base_url: str, approval_status: str | None
) -> dict[str, Any]:
    """One item of ``/v1/Content`` (``approval_status`` None) or ``/v1/ContentAndApprovals``."""
    url = f"{base_url}/v1/Content/{template.content_sid}"
    item: dict[str, Any] = {
        "date_created": "2025-01-01T00:00:00Z",
        "date_updated": "2025-01-01T00:00:00Z",
        "sid": template.content_sid,
        "account_sid": account_sid,
        "friendly_name": template.name,
        "language": _twilio_language(template.language),
        "variables": template.default_values(),
        "types": {"twilio/text": {"body": template.body}},
    }
    if approval_status is None:
        item["url"] = url
        item["links"] = {
            "approval_create": f"{url}/ApprovalRequests/whatsapp",
            "approval_fetch": f"{url}/ApprovalRequests",
        }
    else:
        item["approval_requests"] = {
            "name": template.name,
            "category": template.category,
            "content_type": "twilio/text",
            "status": approval_status,
            "rejection_reason": "",
            "allow_category_change": True,
        }
    return item


def twilio_approval_status(meta_status: str, pending_status: str) -> str:
    return {
        "APPROVED": "approved",
        "PENDING": pending_status,
        "PAUSED": "paused",
        "DISABLED": "disabled",
        "REJECTED": "rejected",
    }.get(meta_status, meta_status.lower())
