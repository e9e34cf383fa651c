"""Builders: one module per report kind, each turning a typed result into a report.page.Page."""
