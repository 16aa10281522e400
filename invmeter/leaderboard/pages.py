"""The leaderboard's two pages, rendered from one :class:`invmeter.leaderboard.board.Board`: Markdown that is true on
GitHub (links to each model's report file, figures as files, nothing that needs hover), and one self-contained HTML
page (CSS, script and SVG figures inline; it opens offline) with a filter box, keyboard-accessible sorting, figures
that scale and a table that scrolls inside its box on a phone."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from invmeter.leaderboard.svg import scalable

if TYPE_CHECKING:
    from invmeter.leaderboard.board import Board, Cell

__all__ = ["render_html", "render_markdown"]

_FIXED = ("rank", "model", "weights", "architecture", "metric", "vs_next", "params", "input", "preprocessing", "labels")

_CAPTIONS = {
    "heatmap": "Each cell: the metric for one model and transform; colours on a fixed 0–1 scale (comparable across "
    "boards), numbers exact; the intervals are in the table.",
    "scatter-accuracy": "One point per model, numbered by its row on the board (legend below the plot): the metric "
    "(mean over transforms) with its 95% interval, against clean accuracy. Hollow points: random-init weights.",
    "scatter-params": "One point per model, numbered by its row on the board (legend below the plot): the metric "
    "(mean over transforms) with its 95% interval, against parameter count (log scale). Hollow points: random-init "
    "weights.",
}


def _intro(board: Board) -> tuple[str | None, str, list[str]]:
    """(random-init warning or None, the ranking sentence, the column explanations), shared by both pages."""
    warning = None
    if board.n_random and board.n_baselines:
        warning = (f"{board.n_baselines} of {board.n_models} models have RANDOM-INIT weights (⚠): they are baselines, "
                   "listed after the ranked models and never ranked among them.")
    elif board.n_random:
        warning = (f"{board.n_random} of {board.n_models} models have RANDOM-INIT weights (⚠): their numbers describe "
                   "the architecture, not a trained model.")
    mean = f"mean over {len(board.transforms)} transforms" if len(board.transforms) > 1 else board.transforms[0]
    direction = "higher" if board.higher_is_better else "lower"
    ranking = (f"{board.n_ranked} model{'' if board.n_ranked == 1 else 's'} ranked by {board.metric} ({mean}; "
               f"{direction} is better). Every model is scored on the same images and the same transform draws.")
    if board.metric.startswith("learned_"):
        ranking += (f" {board.metric} is the gain over the architecture's random initialisations on the same pairs: "
                    "1 = training removed all of the architecture's random-init non-invariance, 0 = none, below 0 = "
                    "less invariant than at random init.")
    extra = [h for h, c in zip(board.header, board.columns) if c not in _FIXED and not c.startswith("transform:")]
    columns = [
        ("rank: place by the ranking metric (ties share a place; – = no value, the cell says why; baseline = a "
        "random-init model beside trained ones, not ranked)."),
        ("model: the name given (linked to the model's own report file, when the zoo wrote one); weights: "
        "random-init (⚠), pretrained:<tag> or file:<path>; architecture: the architecture without its weights."),
        f"{board.header[4]}: the ranking metric with its 95% bootstrap interval over images.",
        ("vs next: this model minus the one ranked just below, with a paired 95% interval (both models resampled on "
        "the same images); ≈ = the interval contains 0: the two are not distinguishable on these images; ? = no "
        "paired interval (the note says why). It compares neighbours in rank order only."),
        *([(f"{', '.join(extra)}: beside the ranking metric, with 95% intervals (learned_*: the gain over the "
           "architecture's random initialisations; clean_accuracy: on untransformed images).")] if extra else []),
        f"{', '.join(board.transforms)}: {board.metric} per transform, with its 95% interval.",
        ("params, input, preprocessing, labels: the model's parameter count, input size (H×W), preprocessing, and "
        "whether accuracies use the data's labels with a linear probe (data) or the model's own classifier (model)."),
    ]
    return warning, ranking, columns


def _md_cell(cell: Cell) -> str:
    text = cell.text.replace("|", "\\|").replace("\n", " ")
    text = f"[{text}]({cell.link})" if cell.link else text
    return text + (f" ({cell.note})".replace("|", "\\|").replace("\n", " ") if cell.note else "")


def render_markdown(board: Board) -> str:
    """The leaderboard as GitHub-flavoured Markdown (figures linked as the ``leaderboard-*.svg`` files)."""
    warning, ranking, columns = _intro(board)
    lines = [f"# {board.title}", ""]
    if warning:
        lines += [f"> **⚠ {warning}**", ""]
    lines += [ranking, ""]
    lines.append("| " + " | ".join(h.replace("|", "\\|") for h in board.header) + " |")
    lines.append("|" + "|".join("---:" if h == "rank" else "---" for h in board.header) + "|")
    lines += ["| " + " | ".join(_md_cell(c) for c in row.cells) + " |" for row in board.rows]
    lines += ["", "## Figures", ""]
    for name in board.figures:
        lines += [f"![{name}](leaderboard-{name}.svg)", "", f"*{_CAPTIONS[name]}*", ""]
    for name, why in board.missing_figures.items():
        lines += [f"*{name}: not drawn ({why}).*", ""]
    if board.failures:
        lines += ["## Failed rows", "", "| model | weights | transform | reason |", "|---|---|---|---|"]
        lines += ["| " + " | ".join(v.replace("|", "\\|") for v in f) + " |" for f in board.failures]
        lines.append("")
    lines += ["## Columns", ""] + [f"- {c}" for c in columns]
    return "\n".join(lines) + "\n"


_CSS = """
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin: 0 0 12px; }
p, li, .warning, figcaption, .note { overflow-wrap: anywhere; }
.warning { background: #fdecea; border: 1px solid #b00020; color: #b00020; padding: 8px 12px; font-weight: bold; }
.controls { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 12px 0 4px; }
#filter { flex: 1 1 220px; max-width: 420px; font-size: 16px; padding: 6px 8px; }
.hint { color: #555; font-size: 13px; margin: 4px 0; }
.scroll { overflow-x: auto; max-width: 100%; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; white-space: nowrap; }
th button { all: inherit; cursor: pointer; border: 0; padding: 0; }
th button:focus-visible { outline: 2px solid #1a5fb4; outline-offset: 2px; }
th button::after { content: " \\2195"; color: #aaa; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; color: #222; }
th[aria-sort="descending"] button::after { content: " \\25BC"; color: #222; }
td.num { white-space: nowrap; font-variant-numeric: tabular-nums; }
td.wide { min-width: 220px; }
tr.baseline td { background: #f7f4ea; }
#board.reordered .vsnext { display: none; }
.note { color: #8a4b00; font-size: 11px; max-width: 260px; }
#figures { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 8px 0; flex: 1 1 380px; min-width: 0; }
svg.figure { display: block; width: 100%; height: auto; }
figcaption { font-size: 12px; color: #555; max-width: 560px; }
@media (max-width: 600px) { body { margin: 10px; } h1 { font-size: 1.3em; } table { font-size: 12px; } }
"""

_JS = """
(function () {
  var table = document.getElementById("board"), body = table.tBodies[0];
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var rows = Array.prototype.slice.call(body.rows);
  var filter = document.getElementById("filter"), shown = document.getElementById("shown");
  var note = document.getElementById("vsnext-note");
  function key(row, col) {
    var data = row.cells[col].dataset;
    if ("num" in data) return parseFloat(data.num);
    if ("text" in data) return data.text.toLowerCase();
    return null;
  }
  function update() {  // "vs next" compares neighbours in rank order: shown only then, with every row shown
    var inOrder = Array.prototype.every.call(body.rows, function (r, i) { return +r.dataset.order === i; });
    var visible = rows.filter(function (r) { return !r.hidden; }).length;
    var show = inOrder && visible === rows.length;
    table.classList.toggle("reordered", !show);
    note.hidden = show;
    shown.textContent = visible + " of " + rows.length + " models shown";
  }
  function sortBy(col) {
    var dir = heads[col].getAttribute("aria-sort") === "ascending" ? -1 : 1;
    heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
    heads[col].setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    rows.slice().sort(function (a, b) {
      var ka = key(a, col), kb = key(b, col), tie = a.dataset.order - b.dataset.order;
      if (ka === null || kb === null) return (ka === null) - (kb === null) || tie;  // no value: always last
      return ka < kb ? -dir : ka > kb ? dir : tie;
    }).forEach(function (r) { body.appendChild(r); });
    update();
  }
  heads.forEach(function (th, col) {
    th.querySelector("button").addEventListener("click", function () { sortBy(col); });
  });
  filter.addEventListener("input", function () {
    var words = filter.value.toLowerCase().split(/\\s+/).filter(Boolean);
    rows.forEach(function (r) {
      r.hidden = !words.every(function (w) { return r.dataset.search.indexOf(w) >= 0; });
    });
    update();
  });
  update();
})();
"""


def _html_cell(cell: Cell, column: str, order: int) -> str:
    sort = order if column == "rank" else cell.sort  # sorting by rank restores the board's order
    if isinstance(sort, (int, float)):
        attr, classes = f' data-num="{float(sort)!r}"', ["num"]
    elif isinstance(sort, str):
        attr, classes = f' data-text="{escape(sort)}"', []
    else:
        attr, classes = "", []
    classes += ["vsnext"] if column == "vs_next" else ["wide"] if column == "preprocessing" else []
    text = f'<a href="{escape(cell.link)}">{escape(cell.text)}</a>' if cell.link else escape(cell.text)
    note = f'<div class="note">{escape(cell.note)}</div>' if cell.note else ""
    cls = f' class="{" ".join(classes)}"' if classes else ""
    return f"<td{cls}{attr}>{text}{note}</td>"


def _head(name: str, column: str) -> str:
    sort = "ascending" if column == "rank" else "none"
    cls = ' class="vsnext"' if column == "vs_next" else ""
    return f'<th scope="col"{cls} aria-sort="{sort}"><button type="button">{escape(name)}</button></th>'


def render_html(board: Board) -> str:
    """The leaderboard as one self-contained HTML page (see the module docstring)."""
    warning, ranking, columns = _intro(board)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(board.title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{escape(board.title)}</h1>",
    ]
    if warning:
        out.append(f'<div class="warning" id="random-init-warning">⚠ {escape(warning)}</div>')
    out.append(f"<p>{escape(ranking)} Sort by any column with its header (click, or Tab and Enter).</p>")
    out.append('<div class="controls"><label for="filter">Filter</label><input id="filter" type="search" '
               'placeholder="model, weights or architecture" autocomplete="off" spellcheck="false">'
               '<span id="shown" class="hint" aria-live="polite"></span></div>')
    out.append('<p id="vsnext-note" class="hint" hidden>“vs next” compares neighbours in rank order: sort by rank '
               "and clear the filter to see it.</p>")
    out.append('<div class="scroll" role="region" aria-label="leaderboard" tabindex="0"><table id="board"><thead><tr>'
               + "".join(_head(h, c) for h, c in zip(board.header, board.columns)) + "</tr></thead><tbody>")
    for i, row in enumerate(board.rows):
        cells = "".join(_html_cell(cell, column, i) for cell, column in zip(row.cells, board.columns))
        kind = ' class="baseline"' if row.kind == "baseline" else ""
        out.append(f'<tr{kind} data-order="{i}" data-kind="{row.kind}" data-search="{escape(row.search)}">{cells}</tr>')
    out.append("</tbody></table></div>")
    out.append('<h2>Figures</h2><div id="figures">')
    for name, svg in board.figures.items():
        out.append(f"<figure>{scalable(svg)}<figcaption>{escape(_CAPTIONS[name])}</figcaption></figure>")
    out.append("</div>")
    out += [f"<p><em>{escape(name)}: not drawn ({escape(why)}).</em></p>" for name, why in board.missing_figures.items()]
    if board.failures:
        out.append('<h2>Failed rows</h2><div class="scroll"><table id="failures"><thead><tr><th>model</th>'
                   "<th>weights</th><th>transform</th><th>reason</th></tr></thead><tbody>")
        out += ["<tr>" + "".join(f"<td>{escape(v)}</td>" for v in f) + "</tr>" for f in board.failures]
        out.append("</tbody></table></div>")
    out.append("<h2>Columns</h2><ul>" + "".join(f"<li>{escape(c)}</li>" for c in columns) + "</ul>")
    out.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(out) + "\n"
