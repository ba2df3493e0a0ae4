"""The delivery funnel: recipients → sent → delivered → read, as a horizontal bar chart.

QtCharts is imported when the first funnel is built (it costs start-up time otherwise)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QMargins, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from waapp.ui.theme import is_dark

STEPS = ("Recipients", "Sent", "Delivered", "Read")


class FunnelChart(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from PySide6.QtCharts import (
            QBarCategoryAxis,
            QBarSet,
            QChart,
            QChartView,
            QHorizontalBarSeries,
            QValueAxis,
        )

        self.values: list[int] = [0, 0, 0, 0]
        self._set = QBarSet("Recipients")
        self._set.append([0.0] * len(STEPS))
        self._set.setColor(QColor("#2f7de1"))
        self._set.setLabelColor(QColor("#e6e6e6" if is_dark() else "#1e1f22"))
        series = QHorizontalBarSeries()
        series.append(self._set)
        series.setLabelsVisible(True)
        series.setLabelsPosition(QHorizontalBarSeries.LabelsPosition.LabelsOutsideEnd)
        series.setBarWidth(0.7)
        chart = QChart()
        chart.addSeries(series)
        chart.legend().hide()
        chart.setBackgroundVisible(False)
        chart.setMargins(QMargins(0, 0, 0, 0))
        chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)
        categories = QBarCategoryAxis()
        categories.append(list(reversed(STEPS)))  # the first step on top
        self._axis = QValueAxis()
        self._axis.setLabelFormat("%d")
        self._axis.setRange(0, 1)
        self._axis.setVisible(False)
        self._axis.setGridLineVisible(False)
        chart.addAxis(categories, Qt.AlignmentFlag.AlignLeft)
        chart.addAxis(self._axis, Qt.AlignmentFlag.AlignBottom)
        series.attachAxis(categories)
        series.attachAxis(self._axis)
        palette_text = self.palette().color(self.foregroundRole())
        categories.setLabelsColor(palette_text)
        categories.setGridLineVisible(False)
        categories.setTruncateLabels(False)
        view = QChartView(chart)
        view.setRenderHint(QPainter.RenderHint.Antialiasing)
        view.setStyleSheet("background: transparent")
        self._chart: Any = chart
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("Delivery funnel")
        title.setStyleSheet("font-weight: 600")
        layout.addWidget(title)
        layout.addWidget(view, 1)
        self.setMinimumHeight(170)

    def set_values(self, recipients: int, sent: int, delivered: int, read: int) -> None:
        self.values = [recipients, sent, delivered, read]
        for position, value in enumerate(reversed(self.values)):
            self._set.replace(position, float(value))
        # Room on the right for the labels outside the bars.
        self._axis.setRange(0, max(1.0, recipients * 1.18))
