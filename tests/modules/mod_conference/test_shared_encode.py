"""Shared encoding: listeners with one codec share one encode per tick; talkers and odd codecs do not.

Audio is checked the way the far end would hear it: the payloads are decoded
with mod_opus's decoder and the talkers' tones looked for.  The endpoint side
is mod_sofia's real `SipMedia` over a stub RTP session (stub_legs.py), so the
pass-through check that sends a shared payload as it is runs too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import modules.mod_opus as mod_opus
from modules.mod_conference.app import serve
from modules.mod_conference.manager import ConferenceManager
from modules.mod_conference.member import Member
from modules.mod_conference.mixdown import HANGOVER, MixBoard
from modules.mod_conference.profile import Profile
from modules.mod_conference.shared_encode import (
    IDLE_TICKS,
    SharedEncoding,
    WriteCodec,
    write_codec_of,
)
from switchcore.core import Switch
from switchcore.media.analysis import frequencies_present, rms, sine
from switchcore.media.builtin_codecs import builtin_codecs
from switchcore.media.clock import MediaClock
from switchcore.media.codec import CodecSpec
from switchcore.media.frame import Frame
from switchcore.profile import CallerProfile
from switchcore.registry import Registry
from switchcore.session import Session

from .stub_legs import StubSipDriver

RATE = 48000
SAMPLES = RATE // 50
OPUS = WriteCodec("OPUS", RATE, 1, ())
TONES = (440.0, 1000.0)


def registry() -> Registry:
    """The switch's codecs: the built-in ones (PCMU, PCMA, G722, L16) and mod_opus."""
    reg = Registry()
    reg.codecs.extend(builtin_codecs())
    reg.add(mod_opus.module)
    return reg


def counting_finder(reg: Registry) -> tuple[Callable[[str, int, int], CodecSpec | None], list[str]]:
    asked: list[str] = []

    def find(name: str, rate: int, channels: int) -> CodecSpec | None:
        asked.append(f"{name}/{rate}/{channels}")
        return reg.find_codec(name, rate, channels)

    return find, asked


def tone_frames(freq: float, ticks: int) -> list[np.ndarray]:
    tone = sine(freq, 20 * ticks, RATE, 3000.0)
    return [tone[k * SAMPLES : (k + 1) * SAMPLES] for k in range(ticks)]


def decode(payloads: list[bytes]) -> np.ndarray:
    decoder = mod_opus.OpusDecoder(RATE, 1)
    return np.concatenate([decoder.decode(p) for p in payloads])


def board_with(members: int) -> tuple[MixBoard, np.ndarray]:
    board = MixBoard(RATE, 20)
    slots = np.array([board.allocate(100) for _ in range(members)], dtype=np.intp)
    return board, slots


# ---- the pure step: MixBoard result -> shared frames ------------------------------------------


def test_listeners_with_one_codec_get_identical_payloads_from_one_encode_per_tick() -> None:
    find, asked = counting_finder(registry())
    shared = SharedEncoding(RATE, SAMPLES, find)
    board, slots = board_with(8)
    talk = [tone_frames(f, 40) for f in TONES]
    silence = np.zeros(SAMPLES, np.int16)
    heard: list[bytes] = []
    for tick in range(40):
        result = board.tick(slots, [talk[0][tick], talk[1][tick]] + [silence] * 6)
        frames = shared.assign(result, [OPUS] * 8)
        assert frames[0] is None and frames[1] is None  # talkers: their own encoders
        listener_frames = frames[2:]
        assert all(f is not None and f.encoded is not None for f in listener_frames)
        payloads = {f.encoded.payload for f in listener_frames if f is not None and f.encoded is not None}
        assert len(payloads) == 1  # byte-identical for all six
        assert shared.stats.encodes == tick + 1  # one encode per tick, not six
        first = listener_frames[0]
        assert first is not None and first.rate == RATE and len(first.samples) == SAMPLES
        assert first.encoded is not None and first.encoded.codec == "OPUS" and first.encoded.rate == RATE
        heard.append(first.encoded.payload)
    assert asked == ["OPUS/48000/1"]  # one encoder, made once
    assert shared.encoders == 1
    assert shared.stats.frames == 6 * 40 and shared.stats.own == 2 * 40
    pcm = decode(heard)[-20 * SAMPLES :]
    assert frequencies_present(pcm, RATE, [*TONES, 700.0]) == list(TONES)


def test_talker_hears_the_others_but_not_itself_through_its_own_encoder() -> None:
    reg = registry()
    spec = reg.find_codec("OPUS", RATE, 1)
    assert spec is not None
    shared = SharedEncoding(RATE, SAMPLES, reg.find_codec)
    board, slots = board_with(4)
    talk = [tone_frames(f, 40) for f in TONES]
    silence = np.zeros(SAMPLES, np.int16)
    legs = [StubSipDriver(None, spec, []) for _ in range(4)]  # type: ignore[arg-type]
    for tick in range(40):
        result = board.tick(slots, [talk[0][tick], talk[1][tick], silence, silence])
        frames = shared.assign(result, [write_codec_of(leg) for leg in legs])
        for leg, share, frame in zip(legs, result.outputs, frames, strict=True):
            leg.media.write(Frame(share, RATE) if frame is None else frame)  # as Room.tick + the endpoint
    assert [leg.encodes for leg in legs] == [40, 40, 0, 0]  # listeners' endpoints never encoded
    assert all(len(leg.sent) == 40 for leg in legs)
    assert legs[2].sent == legs[3].sent
    heard = [decode(leg.sent)[-20 * SAMPLES :] for leg in legs]
    assert frequencies_present(heard[0], RATE, TONES) == [1000.0]  # talker 0 hears talker 1 only
    assert frequencies_present(heard[1], RATE, TONES) == [440.0]  # and the other way round
    assert frequencies_present(heard[2], RATE, TONES) == list(TONES)


def test_members_whose_codec_cannot_be_shared_keep_their_own_path() -> None:
    find, asked = counting_finder(registry())
    shared = SharedEncoding(RATE, SAMPLES, find)
    board, slots = board_with(6)
    board.configure(int(slots[3]), gain_out=1.3)  # hears a louder mix than the others
    board.configure(int(slots[4]), can_hear=False)  # deaf
    talk = tone_frames(440.0, 5)
    silence = np.zeros(SAMPLES, np.int16)
    unknown = WriteCodec("X-NOPE", 8000)
    codecs = [OPUS, None, unknown, OPUS, OPUS, OPUS]
    for tick in range(5):
        result = board.tick(slots, [talk[tick]] + [silence] * 5)
        frames = shared.assign(result, codecs)
        assert frames[0] is None  # the talker
        assert frames[1] is None  # no codec known: own path
        assert frames[2] is None  # no such codec in the registry: own path
        assert frames[3] is None  # output volume: own path
        deaf, listener = frames[4], frames[5]
        assert deaf is not None and deaf.encoded is not None and not np.any(deaf.samples)
        assert listener is not None and listener.encoded is not None
        assert deaf.encoded.payload != listener.encoded.payload
    assert asked.count("X-NOPE/8000/1") == 1  # an unknown codec is asked for once
    assert shared.stats.encodes == 2 * 5  # the mix and the silence, once each per tick


def test_deaf_members_share_one_encode_of_silence() -> None:
    shared = SharedEncoding(RATE, SAMPLES, registry().find_codec)
    board, slots = board_with(5)
    for slot in slots[2:]:
        board.configure(int(slot), can_hear=False)
    talk = tone_frames(440.0, 10)
    silence = np.zeros(SAMPLES, np.int16)
    out: list[bytes] = []
    for tick in range(10):
        frames = shared.assign(board.tick(slots, [talk[tick]] + [silence] * 4), [OPUS] * 5)
        deaf = [f for f in frames[2:] if f is not None and f.encoded is not None]
        assert len(deaf) == 3 and len({f.encoded.payload for f in deaf if f.encoded}) == 1
        assert deaf[0].encoded is not None
        out.append(deaf[0].encoded.payload)
    assert rms(decode(out)) < 5.0


def test_codecs_group_by_name_rate_and_fmtp() -> None:
    reg = registry()
    shared = SharedEncoding(RATE, SAMPLES, reg.find_codec)
    board, slots = board_with(5)
    fec = WriteCodec("OPUS", RATE, 1, (("useinbandfec", "1"),))
    pcmu = WriteCodec("PCMU", 8000)
    talk = tone_frames(1000.0, 10)
    silence = np.zeros(SAMPLES, np.int16)
    ulaw: list[np.ndarray] = []
    for tick in range(10):
        frames = shared.assign(board.tick(slots, [talk[tick]] + [silence] * 4), [OPUS, OPUS, fec, pcmu, pcmu])
        a, b, c, d, e = frames
        assert b is not None and c is not None and d is not None and e is not None
        assert b.encoded is not None and c.encoded is not None and d.encoded is not None
        assert d is e  # the same frame object for both PCMU listeners
        assert b.encoded is not c.encoded  # other fmtp, another encoder
        assert d.rate == 8000 and len(d.samples) == 160 and d.encoded.codec == "PCMU"
        assert len(d.encoded.payload) == 160
        ulaw.append(d.samples)
    assert shared.encoders == 3 and shared.stats.encodes == 3 * 10
    pcm = np.concatenate(ulaw)[-800:]  # the mix resampled once to 8 kHz for the PCMU group
    assert frequencies_present(pcm, 8000, [1000.0, 440.0]) == [1000.0]


def test_a_stereo_opus_leg_takes_the_shared_payload_as_it_is() -> None:
    reg = registry()
    spec = reg.find_codec("OPUS", RATE, 2)
    assert spec is not None
    shared = SharedEncoding(RATE, SAMPLES, reg.find_codec)
    board, slots = board_with(3)
    legs = [StubSipDriver(None, spec, [], fmtp={"stereo": "1"}) for _ in range(2)]  # type: ignore[arg-type]
    codecs = [None] + [write_codec_of(leg) for leg in legs]
    assert codecs[1] == WriteCodec("OPUS", RATE, 2, (("stereo", "1"),))
    talk = tone_frames(1000.0, 30)
    silence = np.zeros(SAMPLES, np.int16)
    for tick in range(30):
        result = board.tick(slots, [talk[tick], silence, silence])
        for leg, frame in zip(legs, shared.assign(result, codecs)[1:], strict=True):
            assert frame is not None
            leg.media.write(frame)
    assert [leg.encodes for leg in legs] == [0, 0] and legs[0].sent == legs[1].sent
    decoder = mod_opus.OpusDecoder(RATE, 2)
    pcm = np.concatenate([decoder.decode(p) for p in legs[0].sent]).reshape(-1, 2)
    assert frequencies_present(pcm[-10 * SAMPLES :, 0], RATE, [1000.0, 440.0]) == [1000.0]
    assert frequencies_present(pcm[-10 * SAMPLES :, 1], RATE, [1000.0, 440.0]) == [1000.0]


def test_a_failing_shared_encoder_sends_its_members_back_to_their_own() -> None:
    reg = registry()
    real = reg.find_codec("OPUS", RATE, 1)
    assert real is not None
    calls: list[int] = []

    class Broken:
        def encode(self, samples: np.ndarray) -> bytes:
            calls.append(len(samples))
            raise RuntimeError("libopus says no")

    def find(name: str, rate: int, channels: int) -> CodecSpec | None:
        return dataclasses.replace(real, make_encoder=lambda fmtp: Broken())

    shared = SharedEncoding(RATE, SAMPLES, find)
    board, slots = board_with(3)
    silence = np.zeros(SAMPLES, np.int16)
    for _ in range(3):
        assert shared.assign(board.tick(slots, [silence] * 3), [OPUS] * 3) == [None] * 3
    assert calls == [SAMPLES]  # tried once, then off the shared path
    assert shared.encoders == 0 and shared.stats.encodes == 0


def test_a_member_whose_row_moved_up_when_another_left_still_waits_a_tick_after_being_mixed() -> None:
    """Rows move when a member leaves; whether a member was mixed last tick is kept by its slot.

    C talks (mixed) while B listens on the shared PCMU stream; B leaves and C, now in B's row,
    stops being mixed.  The shared stream's 48 -> 8 kHz resampler still holds the end of the
    last mix, C's tone in it: C must take one more tick on its own path, as if B never left.
    """
    reg = registry()
    pcmu = WriteCodec("PCMU", 8000, 1, ())
    shared = SharedEncoding(RATE, SAMPLES, reg.find_codec)
    board, slots = board_with(3)
    a_tone, c_tone = tone_frames(440.0, 12), tone_frames(1000.0, 12)
    silence = np.zeros(SAMPLES, np.int16)
    for tick in range(6):  # A and C talk, B listens (and takes the shared stream)
        result = board.tick(slots, [a_tone[tick], silence, c_tone[tick]])
        frames = shared.assign(result, [pcmu] * 3, slots)
        assert frames[0] is None and frames[2] is None and (tick == 0 or frames[1] is not None)
    left = slots[[0, 2]]  # B leaves: C is row 1 now
    result = board.tick(left, [a_tone[6], None])  # C's frame did not come: not mixed
    assert result.listeners.tolist() == [False, True]
    frames = shared.assign(result, [pcmu] * 2, left)
    assert frames[1] is None  # mixed last tick: its own path for one more
    result = board.tick(left, [a_tone[7], None])
    frames = shared.assign(result, [pcmu] * 2, left)
    assert frames[1] is not None  # now the shared stream holds no mix with C in it
    # Keyed by row (no slots), row 1's last state was B's: C would have taken the stream at once.
    by_row = SharedEncoding(RATE, SAMPLES, reg.find_codec)
    board, slots = board_with(3)
    for tick in range(6):
        by_row.assign(board.tick(slots, [a_tone[tick], silence, c_tone[tick]]), [pcmu] * 3)
    result = board.tick(slots[[0, 2]], [a_tone[6], None])
    assert by_row.assign(result, [pcmu] * 2)[1] is not None


def test_an_encoder_nobody_uses_is_let_go() -> None:
    shared = SharedEncoding(RATE, SAMPLES, registry().find_codec)
    board, slots = board_with(3)
    silence = np.zeros(SAMPLES, np.int16)
    shared.assign(board.tick(slots, [silence] * 3), [OPUS] * 3)
    assert shared.encoders == 1
    for _ in range(IDLE_TICKS):
        shared.assign(board.tick(slots, [silence] * 3), [None] * 3)
    assert shared.encoders == 0


# ---- what a channel writes ----------------------------------------------------------------------


def test_write_codec_of_reads_the_sip_legs_codec_and_fmtp() -> None:
    reg = registry()
    spec = reg.find_codec("OPUS", RATE, 1)
    assert spec is not None
    leg = StubSipDriver(None, spec, [], fmtp={"useinbandfec": "1", "maxaveragebitrate": "32000"})  # type: ignore[arg-type]
    assert write_codec_of(leg) == WriteCodec(
        "OPUS", RATE, 1, (("maxaveragebitrate", "32000"), ("useinbandfec", "1"))
    )
    long_ptime = StubSipDriver(None, spec, [], ptime=40)  # type: ignore[arg-type]
    assert write_codec_of(long_ptime) is None  # a 40 ms packet is not one tick: no pass-through
    assert write_codec_of(object()) is None


def test_write_codec_of_takes_what_a_driver_declares() -> None:
    spec = registry().find_codec("PCMA", 8000, 1)
    assert spec is not None
    declares = SimpleNamespace(write_codec_params=(spec, {"annexb": "no"}), media=None)
    assert write_codec_of(declares) == WriteCodec("PCMA", 8000, 1, (("annexb", "no"),))
    refuses = SimpleNamespace(write_codec_params=None, media=SimpleNamespace(codec="OPUS", rate=RATE))
    assert write_codec_of(refuses) is None  # a declared None: this leg encodes for itself


def test_a_driver_that_declares_nothing_keeps_its_own_path() -> None:
    # Nothing is guessed from an endpoint's internals: only the declared capability counts.
    undeclared = SimpleNamespace(media=SimpleNamespace(codec="OPUS", rate=RATE))
    assert write_codec_of(undeclared) is None
    assert write_codec_of(SimpleNamespace(media=None)) is None


# ---- a room on a stepped clock: every member gets one frame per tick ------------------------------


class SteppedClock(MediaClock):
    """Ticks when the test says so."""

    def __init__(self) -> None:
        super().__init__(20)
        self._pending: list[asyncio.Future[int]] = []
        self._count = 0

    @property
    def waiting(self) -> int:
        return len(self._pending)

    async def tick(self) -> int:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append(future)
        return await future

    def step(self) -> None:
        self._count += 1
        pending, self._pending = self._pending, []
        for future in pending:
            if not future.done():
                future.set_result(self._count)


def opus_packets(pcm: list[np.ndarray]) -> list[bytes]:
    encoder = mod_opus.OpusEncoder(mod_opus.EncoderConfig(RATE))
    return [encoder.encode(frame) for frame in pcm]


@pytest.mark.timeout(60)
async def test_a_member_moving_between_shared_and_own_encoding_still_gets_a_frame_every_tick() -> None:
    switch = Switch(data_dir=Path(tempfile.mkdtemp(prefix="conf-shared-")))
    switch.registry.add(mod_opus.module)
    clock = SteppedClock()
    switch.clock = clock
    room = ConferenceManager(switch).create(
        "shared", profile=Profile(name="shared", rate=RATE, energy_level=100)
    )
    spec = switch.registry.find_codec("OPUS", RATE, 1)
    assert spec is not None
    quiet = np.zeros(SAMPLES, np.int16)
    # member 0 talks for 30 ticks then falls silent (stops talking HANGOVER ticks later), for 120 ticks;
    # member 1 talks all along; members 2 and 3 only listen.
    talk_then_stop = opus_packets(tone_frames(1000.0, 30) + [quiet] * 90)
    always = opus_packets(tone_frames(440.0, 120))
    silent = opus_packets([quiet] * 120)
    drivers = [StubSipDriver(switch, spec, p) for p in (talk_then_stop, always, silent, silent)]
    tasks = []
    for i, driver in enumerate(drivers):
        session = Session(switch, driver, f"test/{i}", "inbound", CallerProfile())
        member = Member(room, session, i + 1, frozenset(), room.board.allocate(100))
        room.add(member)
        tasks.append(asyncio.get_running_loop().create_task(serve(member)))
    try:
        while clock.waiting < len(drivers) + 1:
            await asyncio.sleep(0)
        talking: list[bool] = []
        for _ in range(120):
            clock.step()
            while clock.waiting < len(drivers) + 1:
                await asyncio.sleep(0)
            talking.append(room.members[0].talking)
        shared_frames = [m.shared_frames for m in room.members]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        room.destroy()
    # every member wrote exactly one 20 ms packet per tick, whichever encoder made it
    for driver in drivers:
        assert len(driver.sent) in (119, 120), len(driver.sent)
        assert all(mod_opus.packet_samples(p, RATE) == SAMPLES for p in driver.sent)
    # member 0 talked, then stopped after the hang-over, and went back to the shared stream
    stop = talking.index(False, talking.index(True))
    assert 30 + HANGOVER - 3 <= stop <= 30 + HANGOVER + 3
    assert 0 < drivers[0].encodes < 120 - 20
    assert drivers[1].encodes >= 110  # the constant talker keeps its own encoder
    assert drivers[2].encodes == drivers[3].encodes == 0
    assert drivers[2].sent == drivers[3].sent
    assert (
        shared_frames[2] == shared_frames[3] == 120
    )  # what the room counts (the CDR's conference_shared_frames)
    assert shared_frames[1] <= 5 and 0 < shared_frames[0] < 120
    # member 0's stream decodes across both switches, and carries member 1's tone on both sides
    decoded = decode(drivers[0].sent)
    assert len(decoded) == len(drivers[0].sent) * SAMPLES
    own = decoded[10 * SAMPLES : 30 * SAMPLES]
    back = decoded[(stop + 10) * SAMPLES : (stop + 30) * SAMPLES]
    assert frequencies_present(own, RATE, TONES) == [440.0]
    assert frequencies_present(back, RATE, TONES) == [440.0]
    assert room.shared.stats.encodes > 0
