"""mod_opus: the Opus codec (RFC 6716) in RTP (RFC 7587), on Debian's libopus through opuslib.

Registers OPUS at 48 kHz mono and stereo, 16 kHz and 8 kHz (ptime 20, 10,
40, 60), reads opus.conf when loaded, and offers:

- `codecs.negotiator`: the OPUS fmtp rules for `MediaPolicy(fmtp={"OPUS": ...})`;
- `OpusDecoder.decode_fec(next_payload, samples)` for endpoints that peek
  their jitter buffer, and its counters (`stats`, `Frames[n] PLC[n] FEC[n]`);
- `OpusEncoder.on_loss_report(fraction_lost, now)` for RTCP-driven
  adaptation (`BitrateController`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from switchcore.errors import ConfigError
from switchcore.events import Event
from switchcore.module import Module

from .bitrate import BitrateController, fec_floor, loss_percent
from .decoder import OpusDecoder, OpusStats
from .encoder import EncoderConfig, OpusEncoder
from .fmtp import OpusFmtp, OpusFmtpNegotiator
from .libopus import has_fec, library_version, packet_samples
from .settings import OpusSettings, settings_from_element
from .specs import IMPLEMENTATIONS, PTIMES, OpusCodecs

if TYPE_CHECKING:
    from switchcore.core import Switch

__all__ = [
    "IMPLEMENTATIONS",
    "PTIMES",
    "BitrateController",
    "EncoderConfig",
    "OpusCodecs",
    "OpusDecoder",
    "OpusEncoder",
    "OpusFmtp",
    "OpusFmtpNegotiator",
    "OpusSettings",
    "OpusStats",
    "codecs",
    "fec_floor",
    "has_fec",
    "library_version",
    "loss_percent",
    "module",
    "packet_samples",
    "settings_from_element",
]

log = logging.getLogger("mod_opus")

module = Module("mod_opus", "Opus codec")
codecs = OpusCodecs()
for _spec in codecs.specs:
    module.add_codec(_spec)


def _read_settings(switch: Switch) -> OpusSettings:
    element = switch.config.current.configuration("opus.conf") if switch.config else None
    return settings_from_element(element)


@module.loaded
async def _load(switch: Switch) -> None:
    """Read opus.conf (absent: the defaults), and again after each reloadxml, for the calls that follow."""
    codecs.settings = _read_settings(switch)
    log.info("mod_opus: %s, %s", library_version(), codecs.settings)

    def reread(event: Event) -> None:
        if event.name != "RELOADXML":
            return
        try:
            codecs.settings = _read_settings(switch)
        except ConfigError as exc:  # keep the settings in force, as reloadxml keeps the old tree
            log.error("mod_opus: opus.conf not applied: %s", exc)
            return
        log.info("mod_opus: opus.conf reloaded: %s", codecs.settings)

    codecs.stop_following = switch.events.listen(reread, names=("RELOADXML",))


@module.shutdown
async def _shutdown(switch: Switch) -> None:
    if codecs.stop_following is not None:
        codecs.stop_following()
        codecs.stop_following = None
