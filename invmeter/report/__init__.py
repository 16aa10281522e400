"""Showing results: the Report and its renderings (:mod:`~invmeter.report.report`), figures
(:mod:`~invmeter.report.plots`) and training curves (:mod:`~invmeter.report.curves`)."""

from invmeter.report.report import Report as Report

__all__ = ["Report"]
