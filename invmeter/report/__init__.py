"""Showing results: the typed Report and Sweep, their JSON and CSV (:mod:`~invmeter.report.report`), tables
(:mod:`~invmeter.report.tables`), notebook display (:mod:`~invmeter.report.display`), figures
(:mod:`~invmeter.report.plots`) and training curves (:mod:`~invmeter.report.curves`)."""

from invmeter.report.report import Report as Report, Sweep as Sweep

__all__ = ["Report", "Sweep"]
