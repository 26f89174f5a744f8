"""vc_core: the headless voice-conversion engine (no Qt, no torch on the live path)."""

__version__ = "0.1.0"
