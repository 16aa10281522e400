"""The leaderboard's figures as standalone SVG text (no plotting library, no fonts or files to fetch)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Point", "heatmap_svg", "scalable", "scatter_svg", "viridis"]

# matplotlib's viridis at 0, 1/8, ..., 1 (the colour map is CC0); interpolated linearly in between.
_VIRIDIS = ("#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725")
_FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'
_CHAR_PX = 6.6  # mean width of a 11 px sans-serif character, for laying out labels
_MAX_LABEL = 48  # a heatmap row label longer than this is cut (with "…"; the table has the full name)


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


def scalable(svg: str) -> str:
    """The SVG to inline in a page: its fixed width and height replaced by a ``max-width`` (the ``viewBox`` keeps its
    aspect ratio), so it shrinks with its container and never grows past its drawn size."""
    head, rest = svg.split(">", 1)
    width = re.search(r' width="([0-9.]+)"', head)
    head = re.sub(r' (width|height)="[0-9.]+"', "", head)
    return f'{head} style="max-width: {width.group(1) if width else 560}px">{rest}'


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
    rows = [r if len(r) <= _MAX_LABEL else r[: _MAX_LABEL - 1] + "…" for r in rows]
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
        (f'<text transform="translate({x + 48:.1f} {y + h / 2:.1f}) rotate(90)" text-anchor="middle">'
        f"{escape(metric)}</text>"),
    ]
    for v in (0.0, 0.5, 1.0):
        out.append(f'<text x="{x + 18:.1f}" y="{y + h * (1 - v) + 4:.1f}">{v:g}</text>')
    return out


@dataclass(frozen=True)
class Point:
    """One model on a scatter plot: ``y`` with its interval ``[y_lo, y_hi]`` (``None``: no interval); ``key`` is
    what the point is labelled with (its row on the board), ``label`` its legend entry."""

    label: str
    x: float
    y: float
    y_lo: float | None = None
    y_hi: float | None = None
    random_init: bool = False
    key: str = ""


Box = tuple[float, float, float, float]


def _overlap(a: Box, b: Box) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def place_labels(anchors: Sequence[tuple[float, float, str]], area: Box, char_px: float = 6.0, height: float = 11.0
                 ) -> list[tuple[float, float]]:
    """A baseline position ``(x, y)`` (text anchored at its start) for each ``(x, y, text)`` label of a point: the
    first of 16 spots around the point whose box stays in ``area`` and overlaps no point and no label placed before;
    else the spot with the least overlap. Boxes are estimated at ``char_px`` per character."""
    points = [(x - 5.0, y - 5.0, x + 5.0, y + 5.0) for x, y, _ in anchors]
    placed: list[Box] = []
    out = []
    for x, y, text in anchors:
        w = char_px * len(text) + 2.0
        spots = [(x + dx, y + dy) for r in (1.0, 2.2) for dx, dy in (
            (7 * r, -3), (7 * r, 9 * r), (-7 * r - w, -3), (-7 * r - w, 9 * r), (-w / 2, -8 * r), (-w / 2, 8 + 10 * r),
            (7 * r, -10 * r), (-7 * r - w, -10 * r))]
        best, best_cost = spots[0], math.inf
        for tx, ty in spots:
            box = (tx, ty - height + 2.0, tx + w, ty + 2.0)
            inside = area[0] <= box[0] and box[2] <= area[2] and area[1] <= box[1] and box[3] <= area[3]
            cost = sum(_overlap(box, o) for o in (*points, *placed)) + (0.0 if inside else 1e6)
            if cost < best_cost:
                best, best_cost = (tx, ty), cost
            if cost == 0.0:
                break
        placed.append((best[0], best[1] - height + 2.0, best[0] + w, best[1] + 2.0))
        out.append(best)
    return out


def _groups(xy: Sequence[tuple[float, float]], radius: float = 4.0) -> list[list[int]]:
    """Indices of points drawn on top of each other (within ``radius`` px of a group's first point)."""
    groups: list[list[int]] = []
    for i, (x, y) in enumerate(xy):
        home = next((g for g in groups if math.dist(xy[g[0]], (x, y)) <= radius), None)
        home.append(i) if home is not None else groups.append([i])
    return groups


def _legend(points: Sequence[Point], x: float, y: float, width: float) -> tuple[list[str], float]:
    """The numbered legend (two columns when the entries fit), and its height."""
    entries = [f"{p.key}  {p.label}" + (" (random init)" if p.random_init else "") for p in points]
    cols = 2 if max(len(e) for e in entries) * 5.6 < width / 2 - 8 else 1
    fit = int((width + 40) / cols / 5.6)
    entries = [e if len(e) <= fit else e[: fit - 1] + "…" for e in entries]
    per_col = math.ceil(len(entries) / cols)
    out = [f'<text x="{x:.1f}" y="{y:.1f}" font-weight="bold">Points, numbered by their row on the board:</text>']
    for i, entry in enumerate(entries):
        cx, cy = x + (i // per_col) * width / cols, y + 14.0 * (i % per_col + 1)
        out.append(f'<text class="legend" x="{cx:.1f}" y="{cy:.1f}" font-size="10">{escape(entry)}</text>')
    return out, 14.0 * (per_col + 1) + 6.0


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
        lo, hi = math.floor(min(xs, default=0)), math.ceil(max(xs, default=1))
        step = max(1, math.ceil((hi - lo) / 6))  # whole decades, at most about 7 labels
        x_ticks = [float(k) for k in range(lo, lo + step * (math.ceil((hi - lo) / step) + 1), step)]
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
    xy = [(px(xv), py(p.y)) for p, xv in zip(points, xs)]
    for p, (x, y) in zip(points, xy):
        fill = "white" if p.random_init else "#21918c"
        bar = ""
        if p.y_lo is not None and p.y_hi is not None:
            bar = f'<line x1="{x:.1f}" y1="{py(p.y_lo):.1f}" x2="{x:.1f}" y2="{py(p.y_hi):.1f}" stroke="#21918c"/>'
        tip = f"{p.key}: {p.label}: {y_label} {p.y:.3f}, {x_label} {p.x:.4g}"
        body.append(f'<g class="point"><title>{escape(tip)}</title>{bar}'
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{fill}" stroke="#21918c" stroke-width="1.5"/></g>')
    groups = _groups(xy)  # points on top of each other share one label: "3,4,5"
    texts = [",".join(points[i].key for i in g[:6]) + ("…" if len(g) > 6 else "") for g in groups]
    spots = place_labels([(*xy[g[0]], t) for g, t in zip(groups, texts)], (left, top, w - right, h - bottom))
    body += [f'<text class="key" x="{tx:.1f}" y="{ty:.1f}" font-size="10">{escape(t)}</text>'
             for (tx, ty), t in zip(spots, texts)]
    legend, extra = _legend(points, left, h + 4.0, w - left - right)
    return _svg(w, h + extra, element_id, title, [*body, *legend])
