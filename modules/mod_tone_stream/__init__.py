"""mod_tone_stream: `tone_stream://` (FreeSWITCH's tone language) and `silence_stream://<ms>` as file formats."""

from __future__ import annotations

from switchcore.media.frame import Frame
from switchcore.media.tones import SilenceGenerator, ToneGenerator, tone_source
from switchcore.module import Module

module = Module("mod_tone_stream", "Generated tones and silence as playable streams")


class GeneratedSource:
    """A tone or silence generator seen as a playback source."""

    def __init__(self, generator: ToneGenerator | SilenceGenerator) -> None:
        self.generator = generator
        self.rate = generator.rate

    def read_frame(self) -> Frame | None:
        return self.generator.read_frame()

    def close(self) -> None:
        return None


def _tone(rest: str, rate: int) -> GeneratedSource:
    return GeneratedSource(tone_source(f"tone_stream://{rest}", rate))


def _silence(rest: str, rate: int) -> GeneratedSource:
    return GeneratedSource(tone_source(f"silence_stream://{rest}", rate))


module.add_file_format("tone_stream", _tone)
module.add_file_format("silence_stream", _silence)
