"""Media taps (FreeSWITCH's media bugs): observers of a channel's frames.

A tap sees each frame read from the far end (`on_read`) and each frame written
to it (`on_write`) without owning the session; returning a frame replaces the
one that flows on (FreeSWITCH's SMBF_READ_REPLACE / WRITE_REPLACE).  Recording,
in-band DTMF detection and call-quality figures are taps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .frame import Frame

if TYPE_CHECKING:
    from ..session import Session


class MediaTap:
    """Base class: override what you need; every hook is called on the session's own task."""

    name = "tap"

    def on_start(self, session: Session) -> None:
        return None

    def on_read(self, session: Session, frame: Frame) -> Frame | None:
        return None

    def on_write(self, session: Session, frame: Frame) -> Frame | None:
        return None

    def on_close(self, session: Session) -> None:
        return None
