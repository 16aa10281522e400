"""The leaderboard's figures as standalone SVG text (no plotting library, no fonts or files to fetch)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Point", "heatmap_svg", "scatter_svg", "viridis"]

# matplotlib's viridis at 0, 1/8, ..., 1 (the colour map is CC0); interpolated linearly in between.
_VIRIDIS = ("#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725")
_FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'
_CHAR_PX = 6.6  # mean width of a 11 px sans-serif character, for laying out labels


def viridis(x: float) -> str:
    """The viridis colour of ``x`` on a fixed 0–1 scale (values outside are clipped), as ``#rrggbb``."""
    x = min(max(x, 0.0), 1.0) * (len(_VIRIDIS) - 1)
    i = min(int(x), len(_VIRIDIS) - 2)
    lo, hi = (tuple(int(c[k : k + 2], 16) for k in (1, 3, 5)) for c in _VIRIDIS[i : i + 2])
    return "#" + "".join(f"{round(a + (x - i) * (b - a)):02x}" for a, b in zip(lo, hi))


def _svg(width: float, height: float, element_id: str, title: str, body: list[str]) -> str:
    width = max(width, 7.2 * max(len(line) for line in title.split("\n")) + 24.0)  # room for the title
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{element_id}" class="figure" role="img" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" {_FONT} font-size="11">'
    )
    first, _, note = title.partition("\n")  # a second line (the random-init warning) is drawn in red
    bold = 'text-anchor="middle" font-size="13" font-weight="bold"'
    heading = [f'<text x="{width / 2:.1f}" y="16" {bold}>{escape(first)}</text>']
    if note:
        heading.append(f'<text x="{width / 2:.1f}" y="31" text-anchor="middle" fill="#b00020">{escape(note)}</text>')
    tooltip = escape(title.replace("\n", " — "))
    return "\n".join([head, f"<title>{tooltip}</title>", *heading, *body, "</svg>"])


def heatmap_svg(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[float | None]],
    notes: Sequence[Sequence[str | None]],
    *,
    title: str,
    metric: str,
    element_id: str = "heatmap",
) -> str:
    """Models (``rows``) × transforms (``columns``), coloured on a fixed 0–1 scale; each cell shows its value.

    ``values[i][j]`` is ``None`` for n/a (drawn grey with "n/a"); ``notes[i][j]`` becomes the cell's tooltip
    (the reason, or the 95% interval). Values outside [0, 1] keep their number but take the end colour.
    """
    cell_w, cell_h, top = 76.0, 24.0, 64.0
    left = 12.0 + _CHAR_PX * max((len(r) for r in rows), default=4)
    width = left + cell_w * len(columns) + 90.0
    height = top + cell_h * len(rows) + 16.0
    body = []
    for j, col in enumerate(columns):
        x = left + cell_w * (j + 0.5)
        body.append(f'<text x="{x:.1f}" y="{top - 8:.1f}" text-anchor="middle">{escape(col)}</text>')
    for i, row in enumerate(rows):
        y = top + cell_h * i
        body.append(f'<text x="{left - 6:.1f}" y="{y + cell_h / 2 + 4:.1f}" text-anchor="end">{escape(row)}</text>')
        for j, value in enumerate(values[i]):
            x = left + cell_w * j
            fill = "#d0d0d0" if value is None else viridis(value)
            text = "n/a" if value is None else f"{value:.2f}"
            ink = "black" if value is None or value >= 0.6 else "white"  # viridis is dark below ~0.6
            tip = f"{row}, {columns[j]}: {text}" + (f" ({notes[i][j]})" if notes[i][j] else "")
            body.append(
                f'<g class="cell"><title>{escape(tip)}</title>'
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell_w - 1:.0f}" height="{cell_h - 1:.0f}" fill="{fill}"/>'
                f'<text x="{x + cell_w / 2:.1f}" y="{y + cell_h / 2 + 4:.1f}" text-anchor="middle" fill="{ink}">'
                f"{text}</text></g>"
            )
    body += _colourbar(left + cell_w * len(columns) + 24.0, top, max(cell_h * len(rows), 100.0), metric, element_id)
    return _svg(width, max(height, top + 116.0), element_id, title, body)


def _colourbar(x: float, y: float, h: float, metric: str, element_id: str) -> list[str]:
    stops = "".join(f'<stop offset="{k / 8:.3f}" stop-color="{c}"/>' for k, c in enumerate(_VIRIDIS))
    out = [
        f'<defs><linearGradient id="{element_id}-bar" x1="0" y1="1" x2="0" y2="0">{stops}</linearGradient></defs>',
        f'<rect x="{x:.1f}" y="{y:.1f}" width="14" height="{h:.1f}" fill="url(#{element_id}-bar)" stroke="#888"/>',
        f'<text x="{x + 7:.1f}" y="{y - 8:.1f}" text-anchor="middle">{escape(metric)}</text>',
    ]
    for v in (0.0, 0.5, 1.0):
        out.append(f'<text x="{x + 18:.1f}" y="{y + h * (1 - v) + 4:.1f}">{v:g}</text>')
    return out


@dataclass(frozen=True)
class Point:
    """One model on a scatter plot: ``y`` with its interval ``[y_lo, y_hi]`` (``None``: no interval)."""

    label: str
    x: float
    y: float
    y_lo: float | None = None
    y_hi: float | None = None
    random_init: bool = False


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if m * step >= raw)
    start = math.floor(lo / step) * step
    return [start + k * step for k in range(math.ceil((hi - start) / step) + 1)]


def _fmt_tick(v: float, log: bool) -> str:
    if log:
        v = 10**v
        for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
            if abs(v) >= div:
                return f"{v / div:g}{unit}"
    return f"{v:.4g}"


def scatter_svg(
    points: Sequence[Point], *, title: str, x_label: str, y_label: str, log_x: bool = False, element_id: str = "scatter"
) -> str:
    """``y`` against ``x`` with vertical 95% intervals and a label per point (random-init points drawn hollow).

    ``log_x`` puts x on a log10 axis (parameter counts); its ticks are whole decades.
    """
    w, h, left, right, top, bottom = 560.0, 400.0, 64.0, 24.0, 44.0, 48.0
    xs = [math.log10(p.x) if log_x else p.x for p in points]
    ys = [v for p in points for v in (p.y, p.y_lo, p.y_hi) if v is not None]
    if log_x:
        x_ticks = [float(k) for k in range(math.floor(min(xs, default=0)), math.ceil(max(xs, default=1)) + 1)]
        x_ticks = x_ticks if len(x_ticks) > 1 else [x_ticks[0], x_ticks[0] + 1]
    else:
        x_ticks = _ticks(min(xs, default=0.0), max(xs, default=1.0))
    y_ticks = _ticks(min(ys, default=0.0), max(ys, default=1.0))

    def px(v: float) -> float:
        return left + (v - x_ticks[0]) / (x_ticks[-1] - x_ticks[0]) * (w - left - right)

    def py(v: float) -> float:
        return h - bottom - (v - y_ticks[0]) / (y_ticks[-1] - y_ticks[0]) * (h - top - bottom)

    body = [
        f'<rect x="{left}" y="{top}" width="{w - left - right}" height="{h - top - bottom}" fill="none" stroke="#888"/>'
    ]
    for t in x_ticks:
        body.append(f'<line x1="{px(t):.1f}" y1="{top}" x2="{px(t):.1f}" y2="{h - bottom}" stroke="#eee"/>')
        body.append(
            f'<text x="{px(t):.1f}" y="{h - bottom + 16:.1f}" text-anchor="middle">{_fmt_tick(t, log_x)}</text>'
        )
    for t in y_ticks:
        body.append(f'<line x1="{left}" y1="{py(t):.1f}" x2="{w - right}" y2="{py(t):.1f}" stroke="#eee"/>')
        body.append(f'<text x="{left - 6}" y="{py(t) + 4:.1f}" text-anchor="end">{_fmt_tick(t, False)}</text>')
    body.append(f'<text x="{(left + w - right) / 2:.1f}" y="{h - 10}" text-anchor="middle">{escape(x_label)}</text>')
    turn = f'transform="translate(16 {(top + h - bottom) / 2:.1f}) rotate(-90)"'
    body.append(f'<text {turn} text-anchor="middle">{escape(y_label)}</text>')
    for p, xv in zip(points, xs):
        x, y = px(xv), py(p.y)
        fill = "white" if p.random_init else "#21918c"
        bar = ""
        if p.y_lo is not None and p.y_hi is not None:
            bar = f'<line x1="{x:.1f}" y1="{py(p.y_lo):.1f}" x2="{x:.1f}" y2="{py(p.y_hi):.1f}" stroke="#21918c"/>'
        tip = f"{p.label}: {y_label} {p.y:.3f}, {x_label} {p.x:.4g}"
        dx, anchor = (7.0, "start") if x < (left + w - right) / 2 else (-7.0, "end")  # labels point inwards
        body.append(
            f'<g class="point"><title>{escape(tip)}</title>{bar}'
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{fill}" stroke="#21918c" stroke-width="1.5"/>'
            f'<text x="{x + dx:.1f}" y="{y - 5:.1f}" font-size="10" text-anchor="{anchor}">{escape(p.label)}</text></g>'
        )
    return _svg(w, h, element_id, title, body)
