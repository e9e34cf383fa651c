"""Writers: one module per output format, each rendering a report.page.Page and deciding no content."""
