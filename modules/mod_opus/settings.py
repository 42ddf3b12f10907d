"""opus.conf: the module's settings, read from `<settings><param name= value=/>`.

The names and meanings are FreeSWITCH's (mod_opus.c `opus_load_config`):

- `use-vbr` (1): variable bitrate; 0 asks for CBR and adds `cbr=1` to our fmtp.
- `use-dtx` (0): discontinuous transmission; adds `usedtx=1` to our fmtp.
- `complexity` (10): encoder complexity 0-10.
- `packet-loss-percent` (10): the loss the encoder expects at call start (its FEC hint).
- `keep-fec-enabled` (1): keep the bitrate above the point where libopus drops FEC.
- `advertise-useinbandfec` (1): write `useinbandfec=1` (we decode FEC) in our fmtp.
- `use-jb-lookahead` (1): on a lost packet, decode the FEC in the next one if it is there.
- `adjust-bitrate` (1): step the bitrate from RTCP loss reports.
- `maxaveragebitrate` (0): our bitrate ceiling, 6000-510000; 0 takes the rate's default.
- `maxplaybackrate` (0): the highest rate we play back, 8000-48000; 0 takes the codec rate.
- `sprop-maxcapturerate` (0): the highest rate we capture; 0 leaves it out of the fmtp.
- `mono` (0): everything mono, offer and answer alike (`stereo=0; sprop-stereo=0`).

Numbers out of range are clamped to it with a warning; text that is not a
number where one is needed raises `ConfigError`, naming the param.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Any

from switchcore.errors import ConfigError

__all__ = ["MAX_BITRATE", "MIN_BITRATE", "OpusSettings", "settings_from_element"]

log = logging.getLogger("mod_opus")

# RFC 7587 6.1: maxaveragebitrate ranges from 6000 to 510000 bits per second.
MIN_BITRATE = 6000
MAX_BITRATE = 510000
MIN_AUDIO_RATE = 8000
MAX_AUDIO_RATE = 48000

_TRUE = {"yes", "on", "true", "t", "enabled", "active", "allow", "y"}
_FALSE = {"no", "off", "false", "f", "disabled", "inactive", "disallow", "n", ""}


@dataclass(frozen=True, slots=True)
class OpusSettings:
    """mod_opus settings; defaults are what the vanilla opus.conf.xml sets."""

    use_vbr: bool = True
    use_dtx: bool = False
    complexity: int = 10
    packet_loss_percent: int = 10
    keep_fec_enabled: bool = True
    advertise_useinbandfec: bool = True
    use_jb_lookahead: bool = True
    adjust_bitrate: bool = True
    maxaveragebitrate: int = 0
    maxplaybackrate: int = 0
    sprop_maxcapturerate: int = 0
    mono: bool = False


# param name -> (field, lowest, highest); a None range marks a boolean.
_PARAMS: dict[str, tuple[str, int | None, int | None]] = {
    "use-vbr": ("use_vbr", None, None),
    "use-dtx": ("use_dtx", None, None),
    "complexity": ("complexity", 0, 10),
    "packet-loss-percent": ("packet_loss_percent", 0, 100),
    "keep-fec-enabled": ("keep_fec_enabled", None, None),
    "advertise-useinbandfec": ("advertise_useinbandfec", None, None),
    "use-jb-lookahead": ("use_jb_lookahead", None, None),
    "adjust-bitrate": ("adjust_bitrate", None, None),
    "maxaveragebitrate": ("maxaveragebitrate", MIN_BITRATE, MAX_BITRATE),
    "maxplaybackrate": ("maxplaybackrate", MIN_AUDIO_RATE, MAX_AUDIO_RATE),
    "sprop-maxcapturerate": ("sprop_maxcapturerate", MIN_AUDIO_RATE, MAX_AUDIO_RATE),
    "mono": ("mono", None, None),
}
# FreeSWITCH params we read past on purpose: both ask for decoding at another rate than the codec's.
_IGNORED = {"asymmetric-sample-rates", "bitrate-negotiation", "debug-info"}
_ZERO_MEANS_DEFAULT = {"maxaveragebitrate", "maxplaybackrate", "sprop_maxcapturerate"}

assert {f.name for f in fields(OpusSettings)} == {spec[0] for spec in _PARAMS.values()}


def parse_bool(name: str, text: str) -> bool:
    """FreeSWITCH's `switch_true`: yes/on/true/enabled..., or a non-zero number."""
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    try:
        return int(value) != 0
    except ValueError:
        raise ConfigError(f"opus.conf: param {name} wants a boolean, not {text!r}") from None


def _parse_int(name: str, text: str, low: int, high: int, zero_ok: bool) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ConfigError(f"opus.conf: param {name} wants a number, not {text!r}") from None
    if zero_ok and value == 0:
        return 0
    clamped = min(max(value, low), high)
    if clamped != value:
        log.warning("opus.conf: %s=%d is outside %d..%d, using %d", name, value, low, high, clamped)
    return clamped


def settings_from_element(element: Any) -> OpusSettings:
    """`<configuration name="opus.conf">` (or None when the file is absent) -> OpusSettings.

    Unknown params are logged and skipped; the last of a repeated param wins.
    """
    values: dict[str, object] = {}
    if element is None:
        return OpusSettings()
    for param in element.iterfind("settings/param"):
        name = (param.get("name") or "").strip().lower()
        text = param.get("value") or ""
        if name in _IGNORED:
            log.info("opus.conf: param %s is not supported and is ignored", name)
            continue
        spec = _PARAMS.get(name)
        if spec is None:
            log.warning("opus.conf: unknown param %r ignored", name)
            continue
        field_name, low, high = spec
        if low is None or high is None:
            values[field_name] = parse_bool(name, text)
        else:
            values[field_name] = _parse_int(name, text, low, high, field_name in _ZERO_MEANS_DEFAULT)
    return OpusSettings(**values)  # type: ignore[arg-type]
