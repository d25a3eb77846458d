"""Cutting a SIP byte stream (TCP, TLS) into messages and keep-alives (RFC 3261 §18.3, RFC 5626)."""

from __future__ import annotations

import re

from ringfort.sip._abnf import SipParseError

__all__ = ["PING", "StreamFramer"]

PING = b"\r\n\r\n"
"""The double-CRLF keep-alive a client sends on a flow (RFC 5626 §3.5.1)."""

_CRLF = b"\r\n"
_END_OF_HEADERS = b"\r\n\r\n"
# Content-Length or its compact form "l" at the start of a header line; the value may be
# folded onto the next line.
_CONTENT_LENGTH_RE = re.compile(
    rb"\r\n(?:content-length|l)[ \t]*:[ \t]*(?:\r\n[ \t]+)?([^\r\n]*)", re.IGNORECASE
)
_DIGITS_RE = re.compile(rb"[0-9]{1,10}")


class StreamFramer:
    """A bounded receive buffer for one stream connection.

    ``feed`` what the socket gives, then call ``next_message`` until it returns None.  A
    message needs Content-Length on a stream (RFC 3261 §18.3).  After an error the framer
    stays failed and repeats the error: the stream cannot be resynchronised and the
    connection must be closed.
    """

    def __init__(self, max_size: int = 65535) -> None:
        self.max_size = max_size
        self._buffer = bytearray()
        # Where the search for the end of the headers resumes, so that data arriving a
        # byte at a time is not scanned again and again.
        self._scanned = 0
        self._error: SipParseError | None = None
        # The length of the message whose headers are in and whose body is awaited.
        self._pending_total: int | None = None

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        if self._error is not None:
            return
        self._buffer += data

    def next_message(self) -> bytes | None:
        """One complete message, PING for a keep-alive, or None when more data is needed."""
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except SipParseError as error:
            self._error = error
            self._buffer.clear()
            raise

    @property
    def buffered(self) -> int:
        """How many bytes wait for the rest of their message."""
        return len(self._buffer)

    def _next(self) -> bytes | None:
        buffer = self._buffer
        if self._pending_total is None:
            # Between messages: CRLFCRLF is a keep-alive; a single CRLF (a keep-alive's
            # pong, RFC 5626 §4.4.1, or sloppy framing, RFC 3261 §7.5) is skipped.
            while buffer[:2] == _CRLF:
                if buffer[:4] == PING:
                    del buffer[:4]
                    return PING
                if PING.startswith(buffer[:4]):
                    return None  # "\r\n" or "\r\n\r" may still become a keep-alive
                del buffer[:2]
                self._scanned = 0
            if not buffer:
                return None
            end = buffer.find(_END_OF_HEADERS, max(0, self._scanned - 3))
            if end < 0:
                if len(buffer) > self.max_size:
                    raise SipParseError("message headers too large", status=513)
                self._scanned = len(buffer)
                return None
            total = end + 4 + self._content_length(bytes(buffer[:end]))
            if total > self.max_size:
                raise SipParseError("message too large", status=513)
            self._pending_total = total
        total = self._pending_total
        if len(buffer) < total:
            return None
        message = bytes(buffer[:total])
        del buffer[:total]
        self._scanned = 0
        self._pending_total = None
        return message

    @staticmethod
    def _content_length(head: bytes) -> int:
        values = {
            found.group(1).strip(b" \t") for found in _CONTENT_LENGTH_RE.finditer(b"\r\n" + head)
        }
        if not values:
            raise SipParseError("no Content-Length on a stream")
        if len(values) > 1:
            raise SipParseError("conflicting Content-Length headers")
        value = values.pop()
        if _DIGITS_RE.fullmatch(value) is None:
            raise SipParseError("malformed Content-Length")
        return int(value)
