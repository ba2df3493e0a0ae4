"""The detail pane of the Templates screen: the selected template as a WhatsApp message
(header, body, footer, buttons), its status in plain words, its placeholders, and whether
it can be edited here."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from waapp.core.entities import Template, TemplateKind
from waapp.core.templates import parse_placeholders, placeholder_problems
from waapp.services.templates import freeform_mapping
from waapp.ui.templates.editor import bubble_style
from waapp.ui.templates.model import (
    STATUS_MEANINGS,
    kind_key,
    kind_label,
    language_label,
    quality_label,
    status_kind,
    status_label,
)
from waapp.ui.theme import status_color

FREEFORM_NOTE = (
    "Free-form messages reach only contacts who wrote to you in the last 24 hours; outside "
    "that window a campaign sends an approved template instead."
)


def _header_html(header: dict[str, Any] | None) -> str:
    if not header:
        return ""
    fmt = str(header.get("format") or "TEXT").upper()
    if fmt == "TEXT":
        return f"<b>{html.escape(str(header.get('text') or ''))}</b><br>"
    what = {"IMAGE": "an image", "VIDEO": "a video", "DOCUMENT": "a document"}.get(
        fmt, "a location"
    )
    return f"<i>[Header: {what}]</i><br>"


def _button_text(button: dict[str, Any]) -> str:
    kind = str(button.get("type") or "").upper()
    text = str(button.get("text") or "")
    icon = {"URL": "🔗", "PHONE_NUMBER": "📞"}.get(kind, "↩")
    detail = button.get("url") or button.get("phone_number") or ""
    return f"{icon} {text}" + (f"  ({detail})" if detail else "")


class TemplateDetail(QScrollArea):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setMinimumWidth(300)
        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.setContentsMargins(12, 4, 8, 8)
        self.title = QLabel()
        self.title.setStyleSheet("font-size: 16px; font-weight: 600;")
        self.title.setWordWrap(True)
        self.subtitle = QLabel()
        self.subtitle.setObjectName("hint")
        self.subtitle.setWordWrap(True)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.meaning = QLabel()
        self.meaning.setWordWrap(True)
        self.message = QLabel()
        self.message.setTextFormat(Qt.TextFormat.RichText)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setStyleSheet(bubble_style())
        self.buttons = QLabel()
        self.buttons.setWordWrap(True)
        self.placeholders_title = QLabel("Placeholders")
        self.placeholders_title.setStyleSheet("font-weight: 600;")
        self.placeholders = QLabel()
        self.placeholders.setWordWrap(True)
        self.note = QLabel()
        self.note.setObjectName("hint")
        self.note.setWordWrap(True)
        self.empty = QLabel("Select a template to see its text.")
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._parts = [
            self.title,
            self.subtitle,
            self.status,
            self.meaning,
            self.message,
            self.buttons,
            self.placeholders_title,
            self.placeholders,
            self.note,
        ]
        for widget in self._parts:
            layout.addWidget(widget)
        layout.addWidget(self.empty)
        layout.addStretch(1)
        self.setWidget(inner)
        self.show_template(None)

    def show_template(
        self,
        template: Template | None,
        *,
        account_name: str = "",
        field_names: Sequence[str] = (),
    ) -> None:
        for widget in self._parts:
            widget.setVisible(template is not None)
        self.empty.setVisible(template is None)
        if template is None:
            return
        self.title.setText(template.name)
        facts = [kind_label(template), account_name]
        if template.language:
            facts.append(language_label(template.language))
        if template.category:
            facts.append(template.category.capitalize())
        self.subtitle.setText(" · ".join(f for f in facts if f))

        key = kind_key(template)
        if template.status:
            text = f"● {status_label(template)}"
            if template.quality:
                text += f"   ·   quality: {quality_label(template)}"
            self.status.setText(text)
            self.status.setStyleSheet(
                f"color: {status_color(status_kind(template.status)).name()}; font-weight: 600;"
            )
        else:
            self.status.setText("● Ready to use inside the 24-hour window")
            self.status.setStyleSheet(f"color: {status_color('muted').name()}; font-weight: 600;")
        meaning = "" if key == "draft" else STATUS_MEANINGS.get(template.status, "")
        self.meaning.setText(meaning)
        self.meaning.setVisible(bool(meaning))

        body = html.escape(template.body).replace("\n", "<br>")
        footer = (
            f"<br><span style='font-size: 11px; opacity: 0.7;'><i>{html.escape(template.footer)}</i></span>"
            if template.footer
            else ""
        )
        self.message.setText(_header_html(template.header) + body + footer)
        self.buttons.setText("\n".join(_button_text(b) for b in template.buttons))
        self.buttons.setVisible(bool(template.buttons))
        self.placeholders.setText(self._placeholder_text(template, field_names))

        if key == "approved":
            self.note.setText(
                "This template comes from the provider and is read-only here. To change it, "
                "edit it in the provider's console, then use “Sync from provider”."
            )
        elif key == "draft":
            self.note.setText(
                "A draft on this computer: edit it here, submit it for approval in your "
                "provider's console, then use “Sync from provider”."
            )
        else:
            self.note.setText(FREEFORM_NOTE)

    @staticmethod
    def _placeholder_text(template: Template, field_names: Sequence[str]) -> str:
        problems = placeholder_problems(template.body)
        if problems:
            return "Needs fixing: " + "; ".join(problems) + "."
        placeholders = parse_placeholders(template.body)
        if not placeholders.names:
            return "None: every contact gets the same text."
        if template.kind is TemplateKind.FREEFORM:
            mapping = freeform_mapping(placeholders, field_names)
            lines = []
            for name in placeholders.names:
                source = mapping.get(name)
                token = f"{{{{{name}}}}}"
                if source is None or source.field is None:
                    lines.append(f"{token}  ←  mapped when you build a campaign")
                else:
                    lines.append(f"{token}  ←  the contact's “{source.field}”")
            return "\n".join(lines)
        tokens = ", ".join(f"{{{{{n}}}}}" for n in placeholders.send_order)
        return (
            f"{tokens}\nEach is mapped to a contact field or fixed text when you build a campaign."
        )
