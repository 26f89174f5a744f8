"""Widgets and windows. They bind to view-models and never touch audio."""
