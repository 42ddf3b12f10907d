"""Cutting a stream transport's bytes into SIP messages (RFC 3261 18.3).

On TCP (and TLS) a message ends where its Content-Length says: `StreamFramer`
reads the head up to the empty line, takes the body length from it, and hands
out whole messages.  A stream that cannot be framed (no or conflicting
Content-Length values, a message over the size limit) is broken for good: the
connection is answered once and closed by the transport.
"""

from __future__ import annotations

from .headers import header_key
from .uri import ParseError


class FramingError(ParseError):
    """The byte stream cannot be framed any more; the connection should be closed."""


class StreamFramer:
    """Cut a TCP/TLS byte stream into messages by Content-Length.

    `feed(data)` returns the complete messages (bytes) seen so far.  CRLF keep-alives
    between messages (RFC 5626 3.5.1) are skipped and counted in `pings`.  A message
    whose head or total size passes `max_size` raises FramingError (513), as does a
    bad Content-Length (400); after an error the stream is unusable.
    """

    def __init__(self, max_size: int = 65536) -> None:
        self.max_size = max_size
        self.pings = 0
        self._buffer = bytearray()
        self._need: int | None = None  # total size of the message being read, once known
        self._broken: FramingError | None = None

    def feed(self, data: bytes) -> list[bytes]:
        if self._broken is not None:
            raise self._broken
        self._buffer += data
        out: list[bytes] = []
        try:
            while True:
                frame = self._next()
                if frame is None:
                    return out
                out.append(frame)
        except FramingError as exc:
            self._broken = exc
            raise

    def _next(self) -> bytes | None:
        buf = self._buffer
        if self._need is None:
            skipped = 0
            while buf[skipped : skipped + 2] == b"\r\n":
                skipped += 2
            if skipped:
                self.pings += skipped // 4
                del buf[:skipped]
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > self.max_size:
                    raise FramingError("message head too large", 513)
                return None
            head = bytes(buf[:end]).decode("utf-8", "surrogateescape")
            length = _stream_content_length(head)
            self._need = end + 4 + length
            if self._need > self.max_size:
                raise FramingError("message too large", 513)
        if len(buf) < self._need:
            return None
        frame = bytes(buf[: self._need])
        del buf[: self._need]
        self._need = None
        return frame

    @property
    def buffered(self) -> int:
        return len(self._buffer)


def _stream_content_length(head: str) -> int:
    found: list[str] = []
    for line in head.split("\r\n")[1:]:
        colon = line.find(":")
        if colon > 0 and header_key(line[:colon].rstrip(" \t")) == "content-length":
            found.append(line[colon + 1 :].strip())
    if not found:
        return 0  # RFC 3261 18.3 requires it on streams; absent, assume no body.
    if len(set(found)) > 1:
        raise FramingError("conflicting Content-Length headers")
    value = found[0]
    if not value.isdigit() or not value.isascii():
        raise FramingError(f"invalid Content-Length {value[:20]!r}")
    return int(value)


__all__ = ["FramingError", "StreamFramer"]
