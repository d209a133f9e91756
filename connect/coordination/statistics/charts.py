"""Geometry of the statistics page's SVG charts: numbers in, shapes out (no Flask, no database).

templates/console/_charts.html draws what these return; the page stays free of scripts.
"""

import math

# Okabe-Ito colours: told apart with the common colour-vision deficiencies.
SERIES_COLOURS = ("#0072B2", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#D55E00")

BAR_WIDTH = 800
BAR_HEIGHT = 260
BAR_MARGIN = {"left": 44, "right": 8, "top": 12, "bottom": 28}
MAX_X_LABELS = 10

STACK_WIDTH = 800
STACK_LABEL = 220
STACK_ROW = 26
STACK_GAP = 10
STACK_TOP = 8
STACK_BOTTOM = 26


def nice_step(value):
    """The smallest 1, 2 or 5 × 10^k that is ≥ value (counts: at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def axis(largest, steps=4):
    """(top, step) of a count axis from 0 that holds largest in about `steps` gridlines."""
    step = nice_step(largest / steps)
    return max(step, step * math.ceil(largest / step)), step


def grouped_bars(labels, series, titles):
    """A vertical bar chart: one group per label, one bar per series in each group.

    ``series`` is [(name, [value per label])]; ``titles[i][j]`` is the tooltip of bar j of
    group i. Returns the viewBox size, the y ticks, the bars and the x labels to draw.
    """
    m = BAR_MARGIN
    plot_w, plot_h = BAR_WIDTH - m["left"] - m["right"], BAR_HEIGHT - m["top"] - m["bottom"]
    largest = max((v for _name, values in series for v in values), default=0)
    top, step = axis(largest)
    n = max(len(labels), 1)
    group = plot_w / n
    bar = group * 0.8 / max(len(series), 1)
    base = m["top"] + plot_h
    bars = []
    for i in range(len(labels)):
        for j, (name, values) in enumerate(series):
            height = plot_h * values[i] / top
            bars.append(
                {
                    "x": _r(m["left"] + i * group + group * 0.1 + j * bar),
                    "y": _r(base - height),
                    "w": _r(bar),
                    "h": _r(height),
                    "fill": SERIES_COLOURS[j % len(SERIES_COLOURS)],
                    "series": name,
                    "title": titles[i][j],
                }
            )
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    return {
        "width": BAR_WIDTH,
        "height": BAR_HEIGHT,
        "left": m["left"],
        "base": base,
        "right": BAR_WIDTH - m["right"],
        "ticks": [
            {"y": _r(base - plot_h * value / top), "label": value}
            for value in range(0, top + 1, step)
        ],
        "bars": bars,
        "x_labels": [
            {"x": _r(m["left"] + i * group + group / 2), "label": label}
            for i, label in enumerate(labels)
            if i % every == 0
        ],
    }


def stacked_rows(rows, keys, titles):
    """A horizontal stacked bar chart: one row per (label, {key: value}), segments in `keys`
    order; ``titles[(label, key)]`` is a segment's tooltip."""
    plot_w = STACK_WIDTH - STACK_LABEL - 48
    largest = max((sum(values.values()) for _label, values in rows), default=0)
    top, step = axis(largest)
    height = STACK_TOP + len(rows) * (STACK_ROW + STACK_GAP) + STACK_BOTTOM
    drawn = []
    for i, (label, values) in enumerate(rows):
        y = STACK_TOP + i * (STACK_ROW + STACK_GAP)
        x, segments = STACK_LABEL, []
        for j, key in enumerate(keys):
            value = values.get(key, 0)
            if not value:
                continue
            width = plot_w * value / top
            segments.append(
                {
                    "x": _r(x),
                    "w": _r(width),
                    "key": key,
                    "fill": SERIES_COLOURS[j % len(SERIES_COLOURS)],
                    "title": titles[(label, key)],
                }
            )
            x += width
        drawn.append(
            {
                "label": label,
                "y": y,
                "mid": y + STACK_ROW / 2,
                "h": STACK_ROW,
                "segments": segments,
                "total": sum(values.values()),
                "end": _r(x),
            }
        )
    base = height - STACK_BOTTOM
    return {
        "width": STACK_WIDTH,
        "height": height,
        "left": STACK_LABEL,
        "base": base,
        "ticks": [
            {"x": _r(STACK_LABEL + plot_w * value / top), "label": value}
            for value in range(0, top + 1, step)
        ],
        "rows": drawn,
    }


def heat_level(value, largest, levels=4):
    """0 for nothing, else 1..levels by the share of the largest cell (for the heat table)."""
    if not value or not largest:
        return 0
    return max(1, math.ceil(levels * value / largest))


def _r(value):
    return round(value, 1)
