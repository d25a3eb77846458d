"""The reports' fixtures."""

from centre_day import centre

__all__ = ["centre"]
