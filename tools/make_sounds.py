#!/usr/bin/env python3
"""Generate switchcore's sound prompts and music on hold into sounds/.

Layout (FreeSWITCH's, so ``sound_prefix`` + ``conference/conf-alone.wav`` resolves the same way):

    sounds/en/us/callie/<category>/<rate>/<name>.wav    spoken prompts
    sounds/music/<rate>/switchcore-moh.wav              music on hold (local_stream://moh)

at 8000, 16000 and 48000 Hz, mono, 16-bit PCM WAV.  The file module picks the directory of the
call's rate and falls back to the others, so every prompt exists at every rate.

Prompts are spoken by espeak-ng (voice en-us, a calm 150 words a minute), then with sox: rumble
below 80 Hz removed, silence trimmed to 100 ms before and 200 ms after the words, resampled, and
peak-normalised to -3 dBFS.  The "callie" directory name is FreeSWITCH's; the voice is not Callie.

The music is a 20 s piece in C major built from sox ``synth`` tones: a soft triangle-wave pad
and a plucked arpeggio over I-vi-IV-V / I-iii-IV-V.  It is built as a circle: a note that rings
past the end continues at the start, the pad cross-fades from the last chord into the first and
the reverb is computed over two passes, so the last sample runs into the first without a click
and a caller on hold hears one endless piece.  Level: RMS -16 dBFS.

Re-runnable: a file is rewritten only when its bytes change (sox runs in repeatable mode, so the
same tools give the same bytes), and ``sounds/README.md`` is regenerated from the lists below.

    python3 tools/make_sounds.py            # write what changed
    python3 tools/make_sounds.py --check    # exit 1 if anything is missing or differs
    python3 tools/make_sounds.py --prune    # also delete .wav files this script does not make

Needs espeak-ng, sox and numpy.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

SOUNDS = Path(__file__).resolve().parent.parent / "sounds"
VOICE_DIR = SOUNDS / "en" / "us" / "callie"
MUSIC_DIR = SOUNDS / "music"
MUSIC_NAME = "switchcore-moh.wav"
RATES = (8000, 16000, 48000)

# espeak-ng: voice, words per minute, pitch (0-99, 50 is the voice's own), pause between words (10 ms units).
VOICE = "en-us"
SPEED_WPM = 150
PITCH = 45
WORD_GAP = 1
ESPEAK = ("espeak-ng", "-v", VOICE, "-s", str(SPEED_WPM), "-p", str(PITCH), "-g", str(WORD_GAP))
PROMPT_PEAK_DBFS = -3.0
LEAD_SILENCE_S = 0.10
TAIL_SILENCE_S = 0.20

Signal = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Prompt:
    """One spoken prompt: written to <category>/<rate>/<name>.wav."""

    category: str
    name: str
    text: str


@dataclass(frozen=True, slots=True)
class Chime:
    """A short tone sequence (not speech): (frequency Hz, seconds) notes, plucked."""

    category: str
    name: str
    notes: tuple[tuple[float, float], ...]
    description: str


PROMPTS: tuple[Prompt, ...] = (
    Prompt("conference", "conf-alone", "You are currently the only person in this conference."),
    Prompt("conference", "conf-muted", "You are now muted."),
    Prompt("conference", "conf-unmuted", "You are now unmuted."),
    Prompt("conference", "conf-locked", "The conference is locked."),
    Prompt("conference", "conf-is-locked", "The conference is now locked."),
    Prompt("conference", "conf-is-unlocked", "The conference is now unlocked."),
    Prompt("conference", "conf-kicked", "You have been kicked from the conference."),
    Prompt("conference", "conf-pin", "Please enter the conference pin number, followed by the pound key."),
    Prompt("conference", "conf-bad-pin", "That pin is not valid."),
    Prompt("conference", "conf-max-members", "The conference is full."),
    Prompt("conference", "conf-members_in_conference", "members in this conference."),
    Prompt("conference", "conf-has_joined", "has joined the conference."),
    Prompt("conference", "conf-has_left", "has left the conference."),
    Prompt("ivr", "ivr-welcome", "Welcome."),
    Prompt(
        "ivr",
        "ivr-please_enter_extension_followed_by_pound",
        "Please enter the extension you wish to reach, followed by the pound key.",
    ),
    Prompt("ivr", "ivr-that_was_an_invalid_entry", "That was an invalid entry."),
    Prompt("ivr", "ivr-not_available", "The person you are trying to reach is not available."),
    Prompt("ivr", "ivr-call_cannot_be_completed_as_dialed", "Your call cannot be completed as dialed."),
    Prompt("ivr", "ivr-thank_you", "Thank you."),
    Prompt("voicemail", "vm-goodbye", "Goodbye."),
    Prompt("misc", "error", "An error has occurred."),
    *(
        Prompt("digits", str(digit), word)
        for digit, word in enumerate(
            ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
        )
    ),
)

CHIMES: tuple[Chime, ...] = (
    Chime("misc", "transfer1", ((659.26, 0.18), (880.0, 0.45)), "two-note chime (E5, A5) played on transfer"),
)

# --- music on hold -----------------------------------------------------------------------------

MUSIC_RATE = 48000
CHORD_S = 2.5
# Chords as MIDI note numbers (60 = middle C): pad voicing, arpeggio notes.
PROGRESSION: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = (
    ((48, 55, 64), (60, 64, 67, 72, 67, 64, 67, 64)),  # C
    ((45, 52, 60), (57, 60, 64, 69, 64, 60, 64, 60)),  # Am
    ((41, 48, 57), (53, 57, 60, 65, 60, 57, 60, 57)),  # F
    ((43, 50, 59), (55, 59, 62, 67, 62, 59, 62, 59)),  # G
    ((48, 55, 64), (60, 64, 67, 72, 76, 72, 67, 64)),  # C
    ((40, 47, 55), (52, 55, 59, 64, 59, 55, 59, 55)),  # Em
    ((41, 48, 57), (53, 57, 60, 65, 69, 65, 60, 57)),  # F
    ((43, 50, 59), (55, 59, 62, 67, 71, 67, 62, 59)),  # G, leading back to C
)
PAD_FADE_S = 1.2
PAD_GAIN = 0.22
PLUCK_GAIN = 0.30
PLUCK_RING_S = 2.4
CHIME_RING_S = 0.8
MUSIC_RMS_DBFS = -16.0


def midi_hz(note: int) -> float:
    """Equal-tempered frequency of a MIDI note (A4 = 69 = 440 Hz)."""
    return 440.0 * math.pow(2.0, (note - 69) / 12.0)


def run(cmd: Sequence[str], data: bytes | None = None) -> bytes:
    """Run a command, feeding it ``data``; return its stdout or raise with its stderr."""
    done = subprocess.run(cmd, input=data, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    return done.stdout


def f32(rate: int) -> list[str]:
    """sox format options of raw mono 32-bit float samples at ``rate``."""
    return ["-t", "f32", "-r", str(rate), "-c", "1"]


def sox_synth(seconds: float, *args: str) -> Signal:
    """A mono float signal at MUSIC_RATE from ``sox -n ... synth <seconds> <args>``."""
    raw = run(["sox", "-R", "-n", *f32(MUSIC_RATE), "-", "synth", f"{seconds:.4f}", *args])
    return np.frombuffer(raw, dtype="<f4").astype(np.float64)


def sox_filter(signal: Signal, *effects: str, out_rate: int = MUSIC_RATE) -> Signal:
    """Run a float signal at MUSIC_RATE through sox effects; return floats at ``out_rate``."""
    raw = run(
        ["sox", "-R", *f32(MUSIC_RATE), "-", *f32(out_rate), "-", *effects],
        signal.astype("<f4").tobytes(),
    )
    return np.frombuffer(raw, dtype="<f4").astype(np.float64)


def add_circular(loop: Signal, part: Signal, start_s: float) -> None:
    """Add ``part`` into ``loop`` at ``start_s``, wrapping past the end back to the start."""
    index = (round(start_s * MUSIC_RATE) + np.arange(part.size)) % loop.size
    np.add.at(loop, index, part)


def raised_cosine_envelope(size: int, fade: int) -> Signal:
    """1.0 in the middle, half-cosine ramps of ``fade`` samples at both ends."""
    envelope = np.ones(size)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, fade))
    envelope[:fade] = ramp
    envelope[-fade:] = ramp[::-1]
    return envelope


def pad_voice(notes: Sequence[int]) -> Signal:
    """A chord of soft triangle tones lasting one chord plus a cross-fade at each end."""
    seconds = CHORD_S + PAD_FADE_S
    voice = np.zeros(round(seconds * MUSIC_RATE))
    for note in notes:
        # Two slightly detuned tones beat slowly against each other: a gentle chorus.
        for detune in (-0.4, 0.4):
            tone = sox_synth(seconds, "triangle", f"{midi_hz(note) + detune:.3f}", "lowpass", "1800")
            voice[: tone.size] += tone[: voice.size]
    voice *= raised_cosine_envelope(voice.size, round(PAD_FADE_S * MUSIC_RATE))
    return voice * PAD_GAIN / len(notes)


def pluck(note: int) -> Signal:
    """One plucked-string note (sox's Karplus-Strong ``pluck``) ringing for PLUCK_RING_S."""
    # A 5 ms attack and a low-pass take the click off the noise burst that starts a pluck.
    soften = ("lowpass", "2500", "fade", "0.005")
    tone = sox_synth(PLUCK_RING_S, "pluck", f"{midi_hz(note):.3f}", *soften, f"{PLUCK_RING_S}", "1.2")
    return tone * PLUCK_GAIN


def compose_loop() -> Signal:
    """The dry piece as one circular buffer of len(PROGRESSION) * CHORD_S seconds."""
    loop = np.zeros(round(len(PROGRESSION) * CHORD_S * MUSIC_RATE))
    plucks: dict[int, Signal] = {}
    for index, (pad_notes, arpeggio) in enumerate(PROGRESSION):
        start = index * CHORD_S
        add_circular(loop, pad_voice(pad_notes), start - PAD_FADE_S / 2)
        step = CHORD_S / len(arpeggio)
        for position, note in enumerate(arpeggio):
            if note not in plucks:
                plucks[note] = pluck(note)
            accent = 1.0 if position == 0 else 0.7
            add_circular(loop, plucks[note] * accent, start + position * step)
    return loop


def circular(signal: Signal, *effects: str, out_rate: int = MUSIC_RATE) -> Signal:
    """Apply sox effects as if ``signal`` repeated forever: run three copies, keep the middle."""
    tripled = sox_filter(np.tile(signal, 3), *effects, out_rate=out_rate)
    period = round(signal.size * out_rate / MUSIC_RATE)
    return tripled[period : 2 * period]


def music_loop() -> Signal:
    """The finished loop at MUSIC_RATE, reverberated and set to MUSIC_RMS_DBFS."""
    wet = circular(compose_loop(), "reverb", "40", "50", "80", "100", "20")
    rms = float(np.sqrt(np.mean(wet**2)))
    return wet * (10 ** (MUSIC_RMS_DBFS / 20) / rms)


def to_wav16(signal: Signal, rate: int) -> bytes:
    """16-bit mono WAV bytes (sox adds repeatable dither)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.wav"
        run(["sox", "-R", *f32(rate), "-", "-b", "16", str(path)], signal.astype("<f4").tobytes())
        return path.read_bytes()


# --- prompts -----------------------------------------------------------------------------------


def speak(text: str, workdir: Path) -> Path:
    """espeak-ng's rendering of ``text`` (22050 Hz WAV) in ``workdir``."""
    path = workdir / "speech.wav"
    run([*ESPEAK, "-w", str(path), text])
    return path


def prompt_wav(speech: Path, rate: int) -> bytes:
    """The finished prompt at ``rate``: trimmed, padded, resampled, normalised, 16-bit."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        run([
            "sox", "-R", str(speech), "-b", "16", "-c", "1", str(out),
            "highpass", "80",
            # Trim silence at both ends (reverse, trim the start again, reverse back).
            "silence", "1", "0.01", "-45d", "reverse", "silence", "1", "0.01", "-45d", "reverse",
            "pad", f"{LEAD_SILENCE_S}", f"{TAIL_SILENCE_S}",
            "rate", "-v", str(rate),
            "norm", f"{PROMPT_PEAK_DBFS}",
        ])  # fmt: skip
        return out.read_bytes()


def chime_wav(chime: Chime, rate: int) -> bytes:
    """A chime's notes one after another, each ringing on under the next."""
    total = sum(seconds for _, seconds in chime.notes) + CHIME_RING_S
    signal = np.zeros(round(total * MUSIC_RATE))
    start = 0
    for freq, seconds in chime.notes:
        soften = ("lowpass", "3500", "fade", "0.005")
        tone = sox_synth(CHIME_RING_S, "pluck", f"{freq:.2f}", *soften, f"{CHIME_RING_S}", "0.6")
        signal[start : start + tone.size] += tone
        start += round(seconds * MUSIC_RATE)
    signal = sox_filter(signal, "rate", "-v", str(rate), out_rate=rate)
    signal *= 10 ** (PROMPT_PEAK_DBFS / 20) / float(np.max(np.abs(signal)))
    return to_wav16(signal, rate)


# --- output ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Writer:
    """Writes files only when their bytes change, and remembers what it was asked to write."""

    check: bool
    changed: list[Path]
    expected: set[Path]

    def put(self, path: Path, data: bytes) -> None:
        self.expected.add(path)
        if path.exists() and path.read_bytes() == data:
            return
        self.changed.append(path)
        if not self.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


def readme() -> str:
    """sounds/README.md: the layout and every prompt's words."""
    lines = [
        "# sounds/",
        "",
        "Generated by `tools/make_sounds.py` (espeak-ng voice en-us, sox); do not edit by hand,",
        "change the script and run it again.  Every file exists at "
        + ", ".join(str(r) for r in RATES)
        + " Hz, mono 16-bit WAV.",
        "",
        "```",
        "en/us/callie/<category>/<rate>/<name>.wav   prompts (playback conference/conf-alone.wav)",
        f"music/<rate>/{MUSIC_NAME}             music on hold (local_stream://moh),"
        f" a {len(PROGRESSION) * CHORD_S:g} s seamless loop",
        "```",
        "",
        "| File | Words |",
        "|---|---|",
    ]
    lines += [f"| `{p.category}/{p.name}.wav` | {p.text} |" for p in PROMPTS]
    lines += [f"| `{c.category}/{c.name}.wav` | ({c.description}) |" for c in CHIMES]
    return "\n".join(lines) + "\n"


def wav_files(root: Path) -> Iterator[Path]:
    yield from (path for path in root.rglob("*.wav") if path.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report differences, write nothing")
    parser.add_argument("--prune", action="store_true", help="delete .wav files this script does not make")
    args = parser.parse_args(argv)
    writer = Writer(check=args.check, changed=[], expected=set())

    with tempfile.TemporaryDirectory() as tmp:
        for prompt in PROMPTS:
            speech = speak(prompt.text, Path(tmp))
            for rate in RATES:
                writer.put(
                    VOICE_DIR / prompt.category / str(rate) / f"{prompt.name}.wav", prompt_wav(speech, rate)
                )
    for chime in CHIMES:
        for rate in RATES:
            writer.put(VOICE_DIR / chime.category / str(rate) / f"{chime.name}.wav", chime_wav(chime, rate))

    loop = music_loop()
    for rate in RATES:
        resampled = loop if rate == MUSIC_RATE else circular(loop, "rate", "-v", str(rate), out_rate=rate)
        writer.put(MUSIC_DIR / str(rate) / MUSIC_NAME, to_wav16(resampled, rate))

    writer.put(SOUNDS / "README.md", readme().encode())

    extra = sorted(set(wav_files(SOUNDS)) - writer.expected)
    if args.prune and not args.check:
        for path in extra:
            path.unlink()

    verb = "differ" if args.check else "written"
    print(f"{len(writer.changed)} of {len(writer.expected)} files {verb}")
    for path in writer.changed:
        print(f"  {path.relative_to(SOUNDS.parent)}")
    if extra:
        print(f"{len(extra)} .wav files not made by this script{' (deleted)' if args.prune else ''}")
    return 1 if args.check and (writer.changed or extra) else 0


if __name__ == "__main__":
    sys.exit(main())
