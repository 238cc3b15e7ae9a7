"""Siyu (私域): one backend for a brand's mini-program, website and APP."""

__version__ = "0.1.0"
