"""Results in a notebook: the tables of :mod:`invmeter.report.tables` as HTML (``_repr_html_``) and Markdown
(``_repr_markdown_``), the cells the text tables show, escaped."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from invmeter.report.tables import layer_cells, report_cells, report_heading, sweep_cells, sweep_heading

if TYPE_CHECKING:
    from invmeter.report.report import Report

__all__ = ["html_table", "markdown_table", "report_html", "report_markdown", "sweep_html", "sweep_markdown"]


def html_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A ``<table>`` with a header row; every cell escaped."""
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table; ``|`` in a cell escaped."""

    def line(cells: Sequence[object]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *(line(r) for r in rows)])


def _notes(report: Report) -> list[str]:
    return ([f"verdict: {report.verdict}"] if report.verdict is not None else []) + [
        f"WARNING: {w}" for w in report.warnings]


def report_html(report: Report) -> str:
    """A report as HTML: what was measured, the metrics table, the layer profile, the verdict and warnings."""
    parts = ["<p>" + "<br>".join(escape(line) for line in report_heading(report)) + "</p>",
             html_table(*report_cells(report))]
    if report.layers:
        parts.append(html_table(*layer_cells(report)))
    parts += [f"<p>{escape(note)}</p>" for note in _notes(report)]
    return '<div class="invmeter-report">' + "".join(parts) + "</div>"


def report_markdown(report: Report) -> str:
    """A report as Markdown, the same content as :func:`report_html`."""
    parts = ["  \n".join(f"`{line}`" for line in report_heading(report)), markdown_table(*report_cells(report))]
    if report.layers:
        parts.append(markdown_table(*layer_cells(report)))
    return "\n\n".join(parts + [f"**{note}**" for note in _notes(report)])


def sweep_html(reports: Sequence[Report]) -> str:
    """A sweep as HTML: one row per magnitude."""
    heading = escape(sweep_heading(reports))
    return f'<div class="invmeter-sweep"><p>{heading}</p>{html_table(*sweep_cells(reports))}</div>'


def sweep_markdown(reports: Sequence[Report]) -> str:
    """A sweep as Markdown: one row per magnitude."""
    return f"`{sweep_heading(reports)}`\n\n{markdown_table(*sweep_cells(reports))}"
