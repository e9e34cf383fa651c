"""Tests that assert this development VM's exact verdicts; collected only on it (see tests/conftest.py)."""
