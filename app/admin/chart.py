"""A grouped bar chart as plain geometry, drawn by templates/admin/_chart.html as inline SVG.

No JavaScript and no style attributes (the CSP forbids them): the template writes rects and text with
classes that app/static/admin.css colours. Heights are proportional to the values, on an axis whose top
is a round number so the ticks read well.
"""
import math
from dataclasses import dataclass

WIDTH, HEIGHT = 600, 260
LEFT, RIGHT, TOP, BOTTOM = 36, 22, 12, 30  # room for the y labels and the dates under the axis
TICKS = 4


@dataclass(frozen=True)
class Bar:
    series: str
    x: float
    y: float
    width: float
    height: float
    label: str  # the bar's <title>: its day, value and series


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list
    y_ticks: list  # (y, value)
    x_labels: list  # (x, text)
    baseline: float
    left: float
    right: float
    top_value: int


def nice_top(value):
    """The smallest round step (1, 2, 2.5 or 5 times a power of ten) times TICKS at or above value; whole ticks."""
    if value <= TICKS:
        return TICKS
    raw = value / TICKS
    magnitude = 10 ** math.floor(math.log10(raw))
    multiples = (1, 2, 2.5, 5, 10) if magnitude >= 10 else (1, 2, 5, 10)
    step = next(m * magnitude for m in multiples if m * magnitude >= raw)
    return int(step * TICKS)


def bar_chart(days, series, values, label_every=7):
    """days: dates; series: [(key, name)]; values[key][i]: the count of series key on days[i] (None = no row)."""
    top_value = nice_top(max((v or 0 for key, _ in series for v in values[key]), default=0))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_height
    group = plot_width / max(len(days), 1)
    bar_width = group * 0.8 / len(series)
    bars = []
    for i, day in enumerate(days):
        for j, (key, name) in enumerate(series):
            value = values[key][i] or 0
            height = plot_height * value / top_value
            bars.append(Bar(key, round(LEFT + i * group + group * 0.1 + j * bar_width, 2), round(baseline - height, 2),
                            round(bar_width, 2), round(height, 2), f"{day.isoformat()}: {value} {name}"))
    y_ticks = [(round(baseline - plot_height * k / TICKS, 2), top_value * k // TICKS) for k in range(TICKS + 1)]
    x_labels = [(round(LEFT + (i + 0.5) * group, 2), day.strftime("%m-%d"))
                for i, day in enumerate(days) if (len(days) - 1 - i) % label_every == 0]
    return Chart(WIDTH, HEIGHT, bars, y_ticks, x_labels, baseline, LEFT, WIDTH - RIGHT, top_value)
