"""Delivery reports: the webhook receiver (addresses, counters), the tunnel (state, public
address, last output lines), the settings form, and the status writer and poller."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from waapp.services.diagnostics import DiagnosticsSnapshot, WebhookUrls
from waapp.ui.diagnostics import text
from waapp.ui.diagnostics.cards import Card, CopyButton, Counter, coloured, dot

TUNNEL_EXAMPLE = "cloudflared tunnel --url http://127.0.0.1:{port}"


def heading(words: str) -> QLabel:
    label = QLabel(words)
    label.setStyleSheet("font-size: 14px; font-weight: 600;")
    return label


def hint(words: str = "") -> QLabel:
    label = QLabel(words)
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


def url_label() -> QLabel:
    label = QLabel()
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    return label


class DeliveryPanel(QWidget):
    """Shows a snapshot's receiver, tunnel, writer and poller; asks for Apply and Retry."""

    applyRequested = Signal(int, str)  # port, tunnel command ("" for none)
    retryRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._form_filled = False
        self.public_header: QLabel | None = None
        self.url_rows: dict[int, tuple[QLabel, QLabel, CopyButton, QLabel, CopyButton]] = {}

        # --- receiver ------------------------------------------------------------------
        receiver = Card()
        self.receiver_state = QLabel()
        self.receiver_state.setTextFormat(Qt.TextFormat.RichText)
        self.receiver_hint = hint()
        self.urls_grid = QGridLayout()
        self.urls_grid.setHorizontalSpacing(10)
        self.urls_grid.setVerticalSpacing(4)
        self.counters = {
            key: Counter(caption, tip)
            for key, caption, tip in (
                ("accepted", "accepted", "Reports that passed the signature check"),
                (
                    "forged",
                    "forged",
                    "Refused: signature missing or wrong — usually a wrong secret",
                ),
                ("malformed", "malformed", "Refused or ignored: the body could not be read"),
                ("too_large", "too large", "Refused: bigger than any real report"),
                (
                    "unknown_account",
                    "unknown account",
                    "Refused: the address names no account here",
                ),
                ("busy", "busy", "Asked to send again later: waapp was writing a backlog"),
            )
        }
        counters_row = QHBoxLayout()
        for counter in self.counters.values():
            counters_row.addWidget(counter)
        counters_row.addStretch(1)
        self.last_times = hint()
        box = QVBoxLayout(receiver)
        box.setContentsMargins(16, 12, 16, 12)
        box.addWidget(heading("Webhook receiver"))
        box.addWidget(self.receiver_state)
        box.addWidget(self.receiver_hint)
        box.addLayout(self.urls_grid)
        box.addSpacing(6)
        box.addLayout(counters_row)
        box.addWidget(self.last_times)

        # --- writer and poller -----------------------------------------------------------
        intake = Card()
        self.writer_state = QLabel()
        self.writer_state.setWordWrap(True)
        self.writer_state.setTextFormat(Qt.TextFormat.RichText)
        self.retry_btn = QPushButton("Retry writing them")
        self.retry_btn.clicked.connect(self.retryRequested.emit)
        self.poller_state = QLabel()
        self.poller_state.setWordWrap(True)
        writer_row = QHBoxLayout()
        writer_row.addWidget(self.writer_state, 1)
        writer_row.addWidget(self.retry_btn, 0, Qt.AlignmentFlag.AlignTop)
        box = QVBoxLayout(intake)
        box.setContentsMargins(16, 12, 16, 12)
        box.addWidget(heading("Saving and polling"))
        box.addLayout(writer_row)
        box.addWidget(self.poller_state)

        # --- tunnel ----------------------------------------------------------------------
        tunnel = Card()
        self.tunnel_state = QLabel()
        self.tunnel_state.setTextFormat(Qt.TextFormat.RichText)
        self.tunnel_url = url_label()
        self.tunnel_copy = CopyButton()
        self.tunnel_error = hint()
        url_row = QHBoxLayout()
        url_row.addWidget(self.tunnel_url, 1)
        url_row.addWidget(self.tunnel_copy)
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setMaximumHeight(110)
        self.output.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.output.setPlaceholderText("The tunnel command's last output lines appear here.")
        self.output_caption = hint("Last output lines")

        self.port_input = QSpinBox()
        self.port_input.setRange(0, 65535)
        self.port_input.setSpecialValueText("Any free port")
        self.port_input.setMinimumWidth(130)
        self.tunnel_input = QLineEdit()
        self.tunnel_input.setPlaceholderText(TUNNEL_EXAMPLE)
        self.tunnel_input.setClearButtonEnabled(True)
        self.apply_btn = QPushButton("Apply")
        self.apply_btn.setObjectName("primary")
        self.apply_btn.clicked.connect(self._apply)
        self.apply_state = hint()
        self.apply_state.hide()
        self.port_input.setMaximumWidth(160)
        settings = QGridLayout()
        settings.setHorizontalSpacing(8)
        settings.setVerticalSpacing(4)
        settings.addWidget(hint("Webhook port"), 0, 0)
        settings.addWidget(hint("Tunnel command"), 0, 1)
        settings.addWidget(self.port_input, 1, 0)
        settings.addWidget(self.tunnel_input, 1, 1)
        settings.addWidget(self.apply_btn, 1, 2)
        settings.addWidget(
            hint(
                f"Leave the command empty for no tunnel; {{port}} is replaced by the receiver's "
                f"port. For example “{TUNNEL_EXAMPLE}” or “ngrok http {{port}} --log stdout”."
            ),
            2,
            1,
        )
        settings.addWidget(self.apply_state, 3, 1, 1, 2)
        settings.setColumnStretch(1, 1)
        box = QVBoxLayout(tunnel)
        box.setContentsMargins(16, 12, 16, 12)
        box.addWidget(heading("Tunnel: reach this computer from the internet"))
        box.addWidget(self.tunnel_state)
        box.addLayout(url_row)
        box.addWidget(self.tunnel_error)
        box.addWidget(self.output_caption)
        box.addWidget(self.output)
        box.addSpacing(6)
        box.addLayout(settings)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addWidget(receiver)
        layout.addWidget(tunnel)
        layout.addWidget(intake)
        layout.addStretch(1)

    # --- showing a snapshot ------------------------------------------------------------

    def show_snapshot(self, snap: DiagnosticsSnapshot) -> None:
        self._show_receiver(snap)
        self._show_tunnel(snap)
        self._show_intake(snap)
        if not self._form_filled:
            self.fill_form(snap.webhook_port, snap.tunnel_command)

    def fill_form(self, port: int, command: str | None) -> None:
        self.port_input.setValue(port)
        self.tunnel_input.setText(command or "")
        self._form_filled = True

    def _show_receiver(self, snap: DiagnosticsSnapshot) -> None:
        receiver = snap.receiver
        public = snap.tunnel.public_url is not None
        if receiver.running:
            if public:
                where = f"Listening on port {receiver.port}; the tunnel makes it public"
            elif receiver.local_only:
                where = f"Listening on this computer only, port {receiver.port}"
            else:
                where = f"Listening on {receiver.host}, port {receiver.port}"
            self.receiver_state.setText(dot("ok", where))
        else:
            self.receiver_state.setText(dot("bad", "Stopped: no delivery report can arrive"))
        if not receiver.running:
            self.receiver_hint.setText("Press Apply below to start it again.")
        elif public:
            self.receiver_hint.setText(
                "Give each account's public address to its provider; the local one is for "
                "programs on this computer (the built-in Sandbox uses it)."
            )
        else:
            self.receiver_hint.setText(
                "Providers on the internet cannot reach this computer directly: set up a "
                "tunnel below to get a public address. The built-in Sandbox needs none."
            )
        self._show_urls(receiver.urls)
        stats = receiver.stats
        for key, counter in self.counters.items():
            counter.set(int(getattr(stats, key)), alarm=key != "accepted")
        self.last_times.setText(
            f"Last accepted: {text.ago(stats.last_accepted_at, snap.taken_at)}    ·    "
            f"Last refused: {text.ago(stats.last_rejected_at, snap.taken_at)}"
        )

    def _show_urls(self, urls: tuple[WebhookUrls, ...]) -> None:
        if [u.account_id for u in urls] != list(self.url_rows):
            while self.urls_grid.count():
                item = self.urls_grid.takeAt(0)
                widget = item.widget() if item is not None else None
                if widget is not None:
                    widget.deleteLater()
            self.url_rows.clear()
            self.urls_grid.addWidget(hint("On this computer"), 0, 1)
            self.public_header = hint("Public address, for the provider")
            self.urls_grid.addWidget(self.public_header, 0, 3)
            for row, url in enumerate(urls, start=1):
                name = QLabel(url.name)
                name.setStyleSheet("font-weight: 600;")
                local, local_copy = url_label(), CopyButton()
                public, public_copy = url_label(), CopyButton()
                for column, widget in enumerate((name, local, local_copy, public, public_copy)):
                    self.urls_grid.addWidget(widget, row, column)
                self.url_rows[url.account_id] = (name, local, local_copy, public, public_copy)
            self.urls_grid.setColumnStretch(5, 1)
        for url in urls:
            name, local, local_copy, public, public_copy = self.url_rows[url.account_id]
            name.setText(url.name)
            local.setText(url.local or "— (stopped)")
            local_copy.value = url.local or ""
            local_copy.setEnabled(url.local is not None)
            public.setText(url.public or "")
            public_copy.value = url.public or ""
            public.setVisible(url.public is not None)
            public_copy.setVisible(url.public is not None)
        if self.public_header is not None:
            self.public_header.setVisible(any(url.public for url in urls))

    def _show_tunnel(self, snap: DiagnosticsSnapshot) -> None:
        tunnel = snap.tunnel
        words, kind = text.TUNNEL.get(tunnel.state, (tunnel.state, "muted"))
        if tunnel.state == "off":
            words = "Not set up — delivery reports from the internet cannot arrive"
        elif tunnel.restarts:
            words = f"{words} (restarted {tunnel.restarts}×)"
        self.tunnel_state.setText(dot(kind, words))
        self.tunnel_url.setText(tunnel.public_url or "")
        self.tunnel_url.setVisible(tunnel.public_url is not None)
        self.tunnel_copy.value = tunnel.public_url or ""
        self.tunnel_copy.setVisible(tunnel.public_url is not None)
        self.tunnel_error.setText(f"Last problem: {tunnel.error}" if tunnel.error else "")
        self.tunnel_error.setVisible(bool(tunnel.error))
        lines = "\n".join(tunnel.last_lines[-12:])
        if self.output.toPlainText() != lines:
            self.output.setPlainText(lines)
            bar = self.output.verticalScrollBar()
            bar.setValue(bar.maximum())
        self.output.setVisible(tunnel.configured)
        self.output_caption.setVisible(tunnel.configured and bool(lines))

    def _show_intake(self, snap: DiagnosticsSnapshot) -> None:
        writer = snap.writer
        stats = writer.stats
        written = f"{stats.events_written:,}".replace(",", " ")
        if writer.dead_letters:
            last = writer.dead_letters[-1]
            self.writer_state.setText(
                dot("bad", f"<b>{writer.dead_letter_events} events could not be saved</b>")
                + f"<br>Last error ({text.clock(last.at)}): {last.error}"
            )
        elif not writer.running:
            self.writer_state.setText(dot("bad", "Saving is stopped"))
        else:
            waiting = f", {stats.pending} waiting" if stats.pending else ""
            self.writer_state.setText(
                dot("ok", f"{written} reports and replies saved{waiting}; nothing lost")
            )
        self.retry_btn.setVisible(bool(writer.dead_letters))
        poller = snap.poller
        interval = f"{poller.interval:.0f} s"
        if not poller.running:
            self.poller_state.setText("Polling is stopped.")
            coloured(self.poller_state, "bad")
            return
        self.poller_state.setStyleSheet("")
        if poller.polled_accounts:
            names = ", ".join(poller.polled_accounts)
            totals = poller.totals
            counts = (
                f" So far {totals.asked} asked, {totals.updates} answered." if totals.asked else ""
            )
            tick = (
                f" Last round: {text.ago(poller.last_tick_at, snap.taken_at)}."
                if poller.last_tick_at
                else ""
            )
            self.poller_state.setText(
                f"Every {interval} waapp asks {names} about messages still on their way, in "
                f"case a report is lost.{counts}{tick}"
            )
        else:
            self.poller_state.setText(
                "No account needs polling: Meta accounts send every report by webhook (Twilio "
                f"and WaSender accounts are also asked every {interval}, in case one is lost)."
            )

    # --- the form ------------------------------------------------------------------------

    def _apply(self) -> None:
        self.applyRequested.emit(self.port_input.value(), self.tunnel_input.text().strip())

    def set_applying(self, busy: bool, message: str = "") -> None:
        self.apply_btn.setEnabled(not busy)
        self.port_input.setEnabled(not busy)
        self.tunnel_input.setEnabled(not busy)
        self.apply_state.setText(message)
        self.apply_state.setVisible(bool(message))
