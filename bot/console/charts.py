"""Charts as inline SVG, drawn on the server (plain Python, no JavaScript library).

`bars` draws stacked daily bars, `lines` daily lines (a rate or an average);
both return markup ready for a template. Every label is escaped.
"""
from __future__ import annotations

from markupsafe import Markup, escape

PALETTE = ("#07c160", "#1485ee", "#fa9d3b", "#e64340", "#8e6ae8", "#10aeb5", "#b5b5b5", "#576b95")
H = 240
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 56
WIDE, HALF = 760, 480


def _scale_max(value: float, ticks: int) -> float:
    """The smallest top of the axis at or over `value` with whole-number ticks (1, 2 or 5 × 10^n apart)."""
    for power in range(0, 10):
        for step in (1, 2, 5):
            if ticks * step * 10 ** power >= value:
                return ticks * step * 10 ** power
    return value


def _frame(labels: list[str], top: float, ticks: int, fmt, title: str, width: int) -> list[str]:
    plot_h = H - TOP - BOTTOM
    out = [f'<svg class="chart" viewBox="0 0 {width} {H}" role="img" aria-label="{escape(title)}" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for i in range(ticks + 1):
        y = TOP + plot_h * i / ticks
        out.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
                   f'{escape(fmt(top * (ticks - i) / ticks))}</text>')
    slot = (width - LEFT - RIGHT) / max(1, len(labels))
    step = max(1, int(len(labels) * 40 / (width - LEFT - RIGHT)) + 1)
    for i, label in enumerate(labels):
        if i % step == 0 or i == len(labels) - 1:
            x = LEFT + slot * (i + 0.5)
            out.append(f'<text x="{x:.1f}" y="{H - BOTTOM + 16}" class="axis" text-anchor="middle">'
                       f'{escape(label)}</text>')
    return out


def _legend(names: list[str]) -> list[str]:
    out, x = [], LEFT
    for i, name in enumerate(names):
        color = PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{x}" y="{H - 22}" width="10" height="10" rx="2" fill="{color}"/>'
                   f'<text x="{x + 14}" y="{H - 13}" class="legend">{escape(name)}</text>')
        x += 26 + sum(12 if ord(ch) > 0x2e80 else 7 for ch in name)
    return out


def _count(v: float) -> str:
    return f"{v:g}"


def bars(labels: list[str], series: list[tuple[str, list[float]]], title: str, fmt=_count,
         width: int = WIDE, ticks: int = 4) -> Markup:
    """Stacked bars, one per label; `series` is [(name, one value per label)]."""
    totals = [sum(values[i] for _, values in series) for i in range(len(labels))]
    top = _scale_max(max(totals, default=0), ticks)
    plot_h = H - TOP - BOTTOM
    slot = (width - LEFT - RIGHT) / max(1, len(labels))
    bar_w = max(2.0, min(slot * 0.62, 56))
    out = _frame(labels, top, ticks, fmt, title, width)
    for i, label in enumerate(labels):
        y = TOP + plot_h
        for k, (name, values) in enumerate(series):
            h = plot_h * values[i] / top
            if h <= 0:
                continue
            y -= h
            x = LEFT + slot * i + (slot - bar_w) / 2
            out.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                       f'fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(label)} {escape(name)}：'
                       f'{escape(fmt(values[i]))}</title></rect>')
    out += _legend([name for name, _ in series])
    out.append("</svg>")
    return Markup("".join(out))


def lines(labels: list[str], series: list[tuple[str, list[float | None]]], title: str,
          top: float | None = None, fmt=_count, width: int = WIDE, ticks: int = 4) -> Markup:
    """One line per series; None is a gap (no data that day)."""
    values = [v for _, vs in series for v in vs if v is not None]
    top = top or _scale_max(max(values, default=0), ticks)
    plot_h = H - TOP - BOTTOM
    slot = (width - LEFT - RIGHT) / max(1, len(labels))
    out = _frame(labels, top, ticks, fmt, title, width)
    for k, (name, vs) in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        points = [(LEFT + slot * (i + 0.5), TOP + plot_h * (1 - v / top), v, labels[i])
                  for i, v in enumerate(vs) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
            out.append(f'<polyline class="line" points="{path}" fill="none" stroke="{color}" stroke-width="2.5"/>')
        for x, y, v, label in points:
            out.append(f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}">'
                       f'<title>{escape(label)} {escape(name)}：{escape(fmt(v))}</title></circle>')
    out += _legend([name for name, _ in series])
    out.append("</svg>")
    return Markup("".join(out))
