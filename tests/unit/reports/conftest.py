"""The reports' fixtures."""

from centre_day import centre, client

__all__ = ["centre", "client"]
