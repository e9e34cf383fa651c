"""Reports: the versioned document format, its renderers, and compare."""
