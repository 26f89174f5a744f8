"""Test helpers that need more than pure Python (a private sound server, fixtures)."""
