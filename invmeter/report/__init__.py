"""Showing results: the typed Report, its JSON and CSV (:mod:`~invmeter.report.report`), its tables
(:mod:`~invmeter.report.tables`), figures (:mod:`~invmeter.report.plots`) and training curves
(:mod:`~invmeter.report.curves`)."""

from invmeter.report.report import Report as Report

__all__ = ["Report"]
