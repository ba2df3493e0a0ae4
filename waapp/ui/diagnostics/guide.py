"""The troubleshooting guide: a searchable list of symptoms; the selected one shows its
causes, how to check them in waapp, the fix, and its error codes with their meaning."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt, QTimer
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from waapp.core.catalogue import Dialect, lookup
from waapp.core.troubleshooting import GuideEntry, entry, search

_SERVICE = {Dialect.TWILIO: "Twilio", Dialect.META: "Meta", Dialect.WASENDER: "WaSender"}


def shown_code(code: str) -> str:
    """A provider's code as the user may meet it: ``131047``, ``HTTP 429``; waapp's own
    names for gateway states (``session_need_scan``) are not shown, only their title."""
    if code.isdigit():
        return code
    if code.startswith("http_"):
        return f"HTTP {code[5:]}"
    return ""


def entry_html(item: GuideEntry) -> str:
    """The entry as the browser shows it (plain HTML, palette colours)."""

    def bullets(title: str, lines: tuple[str, ...]) -> str:
        items = "".join(f"<li style='margin-bottom:4px'>{escape(line)}</li>" for line in lines)
        return f"<h3 style='margin-top:14px'>{title}</h3><ul>{items}</ul>"

    parts = [
        f"<h2>{escape(item.symptom)}</h2>",
        bullets("Likely causes", item.causes),
        bullets("How to check in waapp", item.how_to_check),
        bullets("The fix", item.fix),
    ]
    if item.codes:
        rows = []
        for dialect, code in item.codes:
            known = lookup(dialect, code)
            rows.append(
                "<tr>"
                f"<td style='padding:3px 10px 3px 0'><b>{escape(shown_code(code))}</b></td>"
                f"<td style='padding:3px 10px 3px 0'>{_SERVICE[dialect]}</td>"
                f"<td style='padding:3px 0'><b>{escape(known.title)}</b> — "
                f"{escape(known.meaning)}</td>"
                "</tr>"
            )
        parts.append(
            "<h3 style='margin-top:14px'>Error codes</h3>"
            f"<table cellspacing='0'>{''.join(rows)}</table>"
        )
    return "".join(parts)


class WrappedItem(QStyledItemDelegate):
    """List items whose text wraps to the list's width, with padding. Qt's own word wrap
    sizes an item for one width and paints it at another, eliding the last line."""

    PAD_X, PAD_Y = 8, 6

    def __init__(self, view: QListWidget) -> None:
        super().__init__(view)
        self._view = view

    def _text_width(self) -> int:
        # The scroll bar's room is always kept, so that its coming and going never changes
        # where the text wraps (and sizes and painting always agree).
        scroll_bar = self._view.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        return max(80, self._view.width() - scroll_bar - 2 * self.PAD_X - 6)

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        text = str(index.data() or "")
        flags = int(Qt.TextFlag.TextWordWrap)
        rect = option.fontMetrics.boundingRect(0, 0, self._text_width(), 10_000, flags, text)
        return QSize(self._text_width() + 2 * self.PAD_X, rect.height() + 2 * self.PAD_Y)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        item = QStyleOptionViewItem(option)
        self.initStyleOption(item, index)
        text, item.text = item.text, ""
        style = item.widget.style() if item.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, item, painter, item.widget)
        selected = bool(item.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.save()
        painter.setPen(item.palette.color(role))
        area = item.rect.adjusted(self.PAD_X, self.PAD_Y, 0, -self.PAD_Y)
        area.setWidth(self._text_width())
        painter.drawText(
            area,
            int(Qt.TextFlag.TextWordWrap) | int(Qt.AlignmentFlag.AlignVCenter),
            text,
        )
        painter.restore()


class GuidePanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search a problem or an error code")
        self.search.setToolTip("For example: not delivered, QR code, 131047, 63016")
        self.search.setClearButtonEnabled(True)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.filter)
        self.search.textChanged.connect(lambda _t: self._timer.start())
        self.search.returnPressed.connect(self.filter)

        self.symptoms = QListWidget()
        self.symptoms.setWordWrap(True)
        self.symptoms.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.symptoms.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.symptoms.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.symptoms.setSpacing(1)
        self.symptoms.setFrameShape(QListWidget.Shape.NoFrame)
        self.symptoms.setStyleSheet("QListWidget { background: transparent; }")
        self.symptoms.setItemDelegate(WrappedItem(self.symptoms))
        self.symptoms.currentItemChanged.connect(lambda *_: self._show_current())
        self.empty = QLabel("No symptom matches. Try other words, or an error code.")
        self.empty.setObjectName("hint")
        self.empty.setWordWrap(True)
        self.empty.hide()

        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(False)
        self.text.setFrameShape(QTextBrowser.Shape.NoFrame)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.search)
        left_layout.addWidget(self.symptoms, 1)
        left_layout.addWidget(self.empty)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.text)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([330, 700])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self.filter()

    def keys(self) -> list[str]:
        """The keys of the symptoms listed, in order."""
        return [
            str(self.symptoms.item(row).data(Qt.ItemDataRole.UserRole))
            for row in range(self.symptoms.count())
        ]

    def filter(self) -> None:
        self._timer.stop()
        current = self.current_key()
        found = search(self.search.text())
        self.symptoms.blockSignals(True)
        try:
            self.symptoms.clear()
            for item in found:
                row = QListWidgetItem(item.symptom)
                row.setData(Qt.ItemDataRole.UserRole, item.key)
                row.setToolTip(item.symptom)
                self.symptoms.addItem(row)
        finally:
            self.symptoms.blockSignals(False)
        self.empty.setVisible(not found)
        keys = self.keys()
        self.symptoms.setCurrentRow(keys.index(current) if current in keys else 0)
        self._show_current()

    def current_key(self) -> str | None:
        item = self.symptoms.currentItem()
        return None if item is None else str(item.data(Qt.ItemDataRole.UserRole))

    def show_entry(self, key: str) -> None:
        """Select ``key`` (clearing a search that hides it)."""
        if key not in self.keys():
            self.search.setText("")
            self.filter()
        self.symptoms.setCurrentRow(self.keys().index(key))

    def _show_current(self) -> None:
        key = self.current_key()
        if key is None:
            self.text.setHtml("")
            return
        self.text.setHtml(entry_html(entry(key)))
