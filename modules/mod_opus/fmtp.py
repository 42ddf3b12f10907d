"""Opus's SDP parameters (RFC 7587 6.1 and 7) and how two sides settle them.

Theory of operation.  Opus is always `a=rtpmap:<pt> opus/48000/2` (RFC 7587
7); everything else is in `a=fmtp`.  Parameters a side writes describe what it
wants to *receive* (`maxplaybackrate`, `maxaveragebitrate`, `stereo`, `cbr`,
`useinbandfec`, `usedtx`, `ptime`/`minptime`/`maxptime`) and two hint at what it
will *send* (`sprop-maxcapturerate`, `sprop-stereo`).

`OpusFmtpNegotiator` is the `FmtpNegotiator` hook of
`switchcore.media.negotiate` for the codec name OPUS:

- `local(spec, None)` is our offer: FreeSWITCH's defaults for the codec rate
  (`useinbandfec=1;maxaveragebitrate=30000;maxplaybackrate=48000;ptime=20;
  minptime=10;maxptime=40` at 48 kHz, 20000 bps / maxptime 60 at 16 kHz,
  14000 bps / maxptime 120 at 8 kHz) shaped by opus.conf.
- `local(spec, offer)` is our answer: the same, except that the lower of the
  two `maxaveragebitrate`s wins, and a stereo implementation says
  `sprop-stereo=1` only when the offerer asked for stereo.
- `merge(spec, ours, theirs)` is what our encoder must honour: the peer's
  receive preferences, with the lower `maxaveragebitrate`.

With `mono` set, offer, answer and merge all say `stereo=0;sprop-stereo=0`,
so the far end is never told to expect stereo that will not come (FreeSWITCH
only fixes the answer, which users see as one-way audio).  A peer's values
out of range are clamped, with a log line; values that are not numbers and
parameters we do not know are skipped, so an fmtp of only unknown parameters
still makes a working call on the defaults.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Final

from switchcore.media.codec import CodecSpec

from .settings import MAX_AUDIO_RATE, MAX_BITRATE, MIN_AUDIO_RATE, MIN_BITRATE, OpusSettings

__all__ = [
    "OpusFmtp",
    "OpusFmtpNegotiator",
    "RateDefaults",
    "rate_defaults",
]

log = logging.getLogger("mod_opus")

# The longest and shortest ptime Opus can carry, in whole milliseconds (RFC 6716 3.2.1: 2.5 to 120 ms).
MIN_PTIME: Final = 3
MAX_PTIME: Final = 120

# wire name -> (field, lowest, highest); a None range marks a 0/1 flag.
_KEYS: Final[dict[str, tuple[str, int | None, int | None]]] = {
    "useinbandfec": ("useinbandfec", None, None),
    "usedtx": ("usedtx", None, None),
    "cbr": ("cbr", None, None),
    "maxaveragebitrate": ("maxaveragebitrate", MIN_BITRATE, MAX_BITRATE),
    "maxplaybackrate": ("maxplaybackrate", MIN_AUDIO_RATE, MAX_AUDIO_RATE),
    "sprop-maxcapturerate": ("sprop_maxcapturerate", MIN_AUDIO_RATE, MAX_AUDIO_RATE),
    "ptime": ("ptime", MIN_PTIME, MAX_PTIME),
    "minptime": ("minptime", MIN_PTIME, MAX_PTIME),
    "maxptime": ("maxptime", MIN_PTIME, MAX_PTIME),
    "stereo": ("stereo", None, None),
    "sprop-stereo": ("sprop_stereo", None, None),
}


@dataclass(frozen=True, slots=True)
class OpusFmtp:
    """The RFC 7587 6.1 parameters of one side; None where the side did not say (the RFC default applies)."""

    useinbandfec: bool | None = None
    usedtx: bool | None = None
    cbr: bool | None = None
    maxaveragebitrate: int | None = None
    maxplaybackrate: int | None = None
    sprop_maxcapturerate: int | None = None
    ptime: int | None = None
    minptime: int | None = None
    maxptime: int | None = None
    stereo: bool | None = None
    sprop_stereo: bool | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str], who: str = "remote", quiet: bool = False) -> OpusFmtp:
        """fmtp parameters (as `parse_fmtp_params` gives them) -> OpusFmtp, clamping what is out of range.

        Names are case-insensitive (RFC 8866 6.15 leaves them to the media
        type; RFC 6838 4.3 makes them so).  Every value we change or skip is
        logged as `who`'s, unless `quiet` (our own parameters read back).
        """
        values: dict[str, int | bool] = {}
        for raw_name, raw_value in params.items():
            name = raw_name.strip().lower()
            spec = _KEYS.get(name)
            if spec is None:
                continue  # RFC 7587 7: unknown parameters are ignored
            field_name, low, high = spec
            text = raw_value.strip()
            try:
                number = int(text)
            except ValueError:
                if not quiet:
                    log.warning("opus fmtp from %s: %s=%r is not a number, ignored", who, name, raw_value)
                continue
            if low is None or high is None:
                flag = number != 0
                if number not in (0, 1) and not quiet:
                    log.warning(
                        "opus fmtp from %s: %s=%d is not 0 or 1, taken as %d", who, name, number, flag
                    )
                values[field_name] = flag
                continue
            clamped = min(max(number, low), high)
            if clamped != number and not quiet:
                log.warning(
                    "opus fmtp from %s: %s=%d is outside %d..%d, clamped to %d",
                    who,
                    name,
                    number,
                    low,
                    high,
                    clamped,
                )
            values[field_name] = clamped
        return cls(**values)  # type: ignore[arg-type]

    def to_params(self) -> dict[str, str]:
        """The parameters that are set, in FreeSWITCH's order (mod_opus.c gen_fmtp), flags as 0/1."""
        params: dict[str, str] = {}
        for wire, (field_name, _, _) in _KEYS.items():
            value = getattr(self, field_name)
            if value is not None:
                params[wire] = str(int(value))
        return params


assert {f.name for f in fields(OpusFmtp)} == {spec[0] for spec in _KEYS.values()}


@dataclass(frozen=True, slots=True)
class RateDefaults:
    """FreeSWITCH's per-rate fmtp defaults (mod_opus.c default_codec_settings*)."""

    maxaveragebitrate: int
    maxptime: int
    sprop_maxcapturerate: int | None


_RATE_DEFAULTS: Final = {
    48000: RateDefaults(30000, 40, None),
    16000: RateDefaults(20000, 60, 16000),
    8000: RateDefaults(14000, 120, 8000),
}


def rate_defaults(rate: int) -> RateDefaults:
    """The defaults for a PCM rate (the nearest lower one for rates FreeSWITCH has no table for)."""
    known = [r for r in sorted(_RATE_DEFAULTS) if r <= rate] or [8000]
    return _RATE_DEFAULTS[known[-1]]


def local_max_bitrate(settings: OpusSettings, rate: int) -> int:
    """Our ceiling: opus.conf's maxaveragebitrate, or the rate's default when it is 0."""
    return settings.maxaveragebitrate or rate_defaults(rate).maxaveragebitrate


def lowest(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


SettingsSource = Callable[[], OpusSettings]


class OpusFmtpNegotiator:
    """mod_opus's `FmtpNegotiator`: offers, answers and merges Opus fmtp under opus.conf.

    `settings` is either fixed settings or a function returning the current
    ones, so one negotiator follows `reloadxml`.
    """

    __slots__ = ("_settings",)

    def __init__(self, settings: OpusSettings | SettingsSource | None = None) -> None:
        fixed = settings if isinstance(settings, OpusSettings) else OpusSettings()
        self._settings: SettingsSource = settings if callable(settings) else (lambda: fixed)

    @property
    def settings(self) -> OpusSettings:
        return self._settings()

    def ours(self, rate: int, channels: int, ptimes: tuple[int, ...]) -> OpusFmtp:
        """What we offer for an implementation at `rate` with `channels`."""
        settings = self._settings()
        defaults = rate_defaults(rate)
        playback = min(settings.maxplaybackrate or rate, rate)
        capture = settings.sprop_maxcapturerate or defaults.sprop_maxcapturerate
        stereo: bool | None = None
        if settings.mono:
            stereo = False
        elif channels == 2:
            stereo = True
        return OpusFmtp(
            useinbandfec=settings.advertise_useinbandfec,
            usedtx=True if settings.use_dtx else None,
            cbr=None if settings.use_vbr else True,
            maxaveragebitrate=local_max_bitrate(settings, rate),
            maxplaybackrate=playback,
            sprop_maxcapturerate=min(capture, rate) if capture else None,
            ptime=ptimes[0] if ptimes else 20,
            minptime=min(ptimes) if ptimes else 10,
            maxptime=defaults.maxptime,
            stereo=stereo,
            sprop_stereo=stereo,
        )

    def local(self, spec: CodecSpec, remote: Mapping[str, str] | None) -> Mapping[str, str]:
        offer = self.ours(spec.rate, spec.channels, spec.ptimes)
        if remote is None:
            return offer.to_params()
        theirs = OpusFmtp.parse(remote, quiet=True)  # merge() logs what it clamps
        answer = replace(
            offer,
            maxaveragebitrate=lowest(offer.maxaveragebitrate, theirs.maxaveragebitrate),
            ptime=theirs.ptime if theirs.ptime in spec.ptimes else offer.ptime,
        )
        if offer.stereo:  # a stereo implementation sends stereo only to a peer that asked for it
            answer = replace(answer, sprop_stereo=bool(theirs.stereo))
        return answer.to_params()

    def merge(
        self, spec: CodecSpec, local: Mapping[str, str], remote: Mapping[str, str]
    ) -> Mapping[str, str]:
        settings = self._settings()
        ours = OpusFmtp.parse(local, who="local", quiet=True)
        theirs = OpusFmtp.parse(remote)
        mono = settings.mono
        merged = replace(
            theirs,
            maxaveragebitrate=lowest(
                ours.maxaveragebitrate or local_max_bitrate(settings, spec.rate), theirs.maxaveragebitrate
            ),
            usedtx=True if settings.use_dtx or theirs.usedtx else theirs.usedtx,
            cbr=True if not settings.use_vbr or theirs.cbr else theirs.cbr,
            stereo=False if mono else theirs.stereo,
            sprop_stereo=False if mono else theirs.sprop_stereo,
        )
        return merged.to_params()
