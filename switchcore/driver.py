"""The seam between a session and its endpoint: what an endpoint implements for each channel.

A driver moves media and signalling for one leg.  `read_frame` is the timing
source of everything that runs on a channel (as FreeSWITCH's read_frame): it
returns one frame per ptime, a CNG frame when nothing arrived, so applications
that "read, then write" are paced by it without sleeping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from .causes import HangupCause
from .media.codec import CodecSpec
from .media.frame import Frame


class ChannelDriver(Protocol):
    @property
    def rate(self) -> int:
        """PCM rate of the frames read_frame returns and write_frame expects."""
        ...

    @property
    def read_codec(self) -> str: ...

    @property
    def write_codec(self) -> str: ...

    async def read_frame(self) -> Frame: ...

    async def write_frame(self, frame: Frame) -> None: ...

    async def answer(self) -> None: ...

    async def pre_answer(self) -> None: ...

    async def ring_ready(self) -> None: ...

    async def send_dtmf(self, digits: str, duration_ms: int) -> None: ...

    async def hangup(self, cause: HangupCause) -> None:
        """Tear down signalling and media; called once, after the session has recorded the cause."""
        ...


class EncodedWriter(Protocol):
    """An optional capability of a driver: it sends a frame's `encoded` payload as it is.

    `write_codec_params` is the codec (and the fmtp its encoder was built with)
    that a payload must be in to go out untouched, or None while the driver would
    encode whatever it is given (no media yet, on hold, a packet time other than
    one frame).  A mixer uses it to encode once for every listener who hears the
    same thing (mod_conference's shared encoding).
    """

    @property
    def write_codec_params(self) -> tuple[CodecSpec, Mapping[str, str]] | None: ...
