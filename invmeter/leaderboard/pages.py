"""The leaderboard's two pages, rendered from one :class:`invmeter.leaderboard.board.Board`: Markdown, and HTML with its
CSS, sorting script and SVG figures inline (it opens without a network)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from invmeter.leaderboard.board import Board, Cell

__all__ = ["render_markdown", "render_html"]

_FIGURE_CAPTIONS = {
    "heatmap": "Each cell: the metric for one model and transform; colours on a fixed 0–1 scale (comparable across "
    "boards), numbers exact. Hover for the 95% interval or the reason a cell is n/a.",
    "scatter-accuracy": "One point per model: the metric on the y axis (mean over transforms) with its 95% interval, "
    "against clean accuracy. Hollow points: random-init weights.",
    "scatter-params": "One point per model: the metric on the y axis (mean over transforms) with its 95% interval, "
    "against parameter count (log scale). Hollow points: random-init weights.",
}


def _intro(board: Board) -> tuple[str | None, str, list[str]]:
    """(random-init warning or None, the ranking sentence, the column explanations), shared by both pages."""
    warning = None
    if board.n_random:
        warning = (
            f"{board.n_random} of {board.n_models} models have RANDOM-INIT weights (⚠): their numbers describe the "
            "architecture, not a trained model."
        )
    mean = f"mean over {len(board.transforms)} transforms" if len(board.transforms) > 1 else board.transforms[0]
    direction = "higher" if board.higher_is_better else "lower"
    ranking = (
        f"{board.n_models} models ranked by {board.metric} ({mean}; {direction} is better). Every model is scored on "
        "the same images and the same transform draws."
    )
    columns = [
        "rank: place by the ranking metric (ties share a place; – = no value, see the reason).",
        f"{board.header[3]}: the ranking metric with its 95% bootstrap interval over images.",
        (
            "vs next: this model minus the one ranked just below, with a paired 95% interval (both models "
            "resampled on the same images); ≈ = the interval contains 0: the two are not distinguishable on these "
            "images; ? = no paired interval (the note says why)."
        ),
        f"{', '.join(board.transforms)}: {board.metric} per transform, with its 95% interval.",
        (
            "params, input, preprocessing, labels: the model's parameter count, input size (H×W), preprocessing, "
            "and whether accuracies use the data's labels with a linear probe (data) or the model's own classifier "
            "(model)."
        ),
    ]
    return warning, ranking, columns


def _md_cell(cell: Cell) -> str:
    text = cell.text + (f" ({cell.note})" if cell.note else "")
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(board: Board) -> str:
    """The leaderboard as GitHub-flavoured Markdown (figures linked as the ``leaderboard-*.svg`` files)."""
    warning, ranking, columns = _intro(board)
    lines = [f"# {board.title}", ""]
    if warning:
        lines += [f"> **⚠ {warning}**", ""]
    lines += [ranking, ""]
    lines.append("| " + " | ".join(h.replace("|", "\\|") for h in board.header) + " |")
    lines.append("|" + "|".join("---:" if h == "rank" else "---" for h in board.header) + "|")
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in board.rows]
    lines += ["", "## Figures", ""]
    for name in board.figures.keys():
        lines += [f"![{name}](leaderboard-{name}.svg)", "", f"*{_FIGURE_CAPTIONS[name]}*", ""]
    for name, why in board.missing_figures.items():
        lines += [f"*{name}: not drawn ({why}).*", ""]
    if board.failures:
        lines += ["## Failed rows", "", "| model | weights | transform | reason |", "|---|---|---|---|"]
        lines += ["| " + " | ".join(v.replace("|", "\\|") for v in f) + " |" for f in board.failures]
        lines.append("")
    lines += ["## Columns", ""] + [f"- {c}" for c in columns]
    return "\n".join(lines) + "\n"


_CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px; color: #222; }
.warning { background: #fdecea; border: 1px solid #b00020; color: #b00020; padding: 8px 12px; font-weight: bold; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; margin: 12px 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; white-space: nowrap; }
#board th { cursor: pointer; user-select: none; }
#board th::after { content: " \\2195"; color: #aaa; }
th[aria-sort="ascending"]::after { content: " \\25B2"; color: #222; }
th[aria-sort="descending"]::after { content: " \\25BC"; color: #222; }
td.num { white-space: nowrap; font-variant-numeric: tabular-nums; }
#board td:nth-last-child(2) { min-width: 240px; }
.note { color: #8a4b00; font-size: 11px; max-width: 260px; }
figure { display: inline-block; margin: 8px 16px 8px 0; vertical-align: top; }
figcaption { font-size: 12px; color: #555; max-width: 560px; }
"""

_JS = """
(function () {
  var table = document.getElementById("board");
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  function key(row, col) {
    var data = row.cells[col].dataset;
    if ("num" in data) return parseFloat(data.num);
    if ("text" in data) return data.text.toLowerCase();
    return null;
  }
  function sortBy(col) {
    var dir = heads[col].getAttribute("aria-sort") === "ascending" ? -1 : 1;
    heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
    heads[col].setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var ka = key(a, col), kb = key(b, col), tie = a.dataset.order - b.dataset.order;
      if (ka === null || kb === null) return (ka === null) - (kb === null) || tie;  // no value: always last
      return ka < kb ? -dir : ka > kb ? dir : tie;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  heads.forEach(function (th, col) {
    th.tabIndex = 0;
    th.addEventListener("click", function () { sortBy(col); });
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(col); });
  });
})();
"""


def _html_cell(cell: Cell) -> str:
    if isinstance(cell.sort, (int, float)):
        attr, cls = f' data-num="{float(cell.sort)!r}"', ' class="num"'
    elif isinstance(cell.sort, str):
        attr, cls = f' data-text="{escape(cell.sort)}"', ""
    else:
        attr, cls = "", ""
    note = f'<div class="note">{escape(cell.note)}</div>' if cell.note else ""
    return f"<td{cls}{attr}>{escape(cell.text)}{note}</td>"


def render_html(board: Board) -> str:
    """The leaderboard as one self-contained HTML page: a sortable table (click a header), figures as inline SVG."""
    warning, ranking, columns = _intro(board)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(board.title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{escape(board.title)}</h1>",
    ]
    if warning:
        out.append(f'<div class="warning" id="random-init-warning">⚠ {escape(warning)}</div>')
    out.append(f"<p>{escape(ranking)} Click a column header to sort.</p>")
    out.append(
        '<div class="scroll"><table id="board"><thead><tr>'
        + "".join(f"<th>{escape(h)}</th>" for h in board.header)
        + "</tr></thead><tbody>"
    )
    for i, row in enumerate(board.rows):
        out.append(f'<tr data-order="{i}">' + "".join(_html_cell(c) for c in row) + "</tr>")
    out.append("</tbody></table></div>")
    out.append('<h2>Figures</h2><div id="figures">')
    for name, svg in board.figures.items():
        out.append(f"<figure>{svg}<figcaption>{escape(_FIGURE_CAPTIONS[name])}</figcaption></figure>")
    out.append("</div>")
    out += [
        f"<p><em>{escape(name)}: not drawn ({escape(why)}).</em></p>" for name, why in board.missing_figures.items()
    ]
    if board.failures:
        out.append(
            '<h2>Failed rows</h2><table id="failures"><thead><tr><th>model</th><th>weights</th><th>transform</th>'
            "<th>reason</th></tr></thead><tbody>"
        )
        out += ["<tr>" + "".join(f"<td>{escape(v)}</td>" for v in f) + "</tr>" for f in board.failures]
        out.append("</tbody></table>")
    out.append("<h2>Columns</h2><ul>" + "".join(f"<li>{escape(c)}</li>" for c in columns) + "</ul>")
    out.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(out) + "\n"
