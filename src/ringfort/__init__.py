"""Ringfort: an always-on phone system and call centre."""

__version__ = "0.1.0"
