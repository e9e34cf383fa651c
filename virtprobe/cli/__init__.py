"""The command line: one module per command, the one error boundary, and the detect fast path."""
