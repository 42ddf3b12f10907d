"""Bitrate adaptation from RTCP loss reports, and the FEC floor checked against libopus itself."""

from __future__ import annotations

import random

import pytest

from modules.mod_opus import BitrateController, EncoderConfig, OpusEncoder, OpusSettings, fec_floor, has_fec
from modules.mod_opus.bitrate import loss_percent

from .signals import frames, speech_like

SIGNALS = {rate: speech_like(rate, 1.6) for rate in (8000, 16000, 48000)}


def fec_share(rate: int, bitrate: int, loss: int, ptime: int) -> float:
    """The share of packets libopus gives in-band FEC at this bitrate and loss hint."""
    config = EncoderConfig(rate=rate, bitrate=bitrate, fec=True, packet_loss_percent=loss, ptime=ptime)
    encoder = OpusEncoder(config)
    packets = [encoder.encode(f) for f in frames(SIGNALS[rate], rate * ptime // 1000)][3:]
    return sum(has_fec(p) for p in packets) / len(packets)


@pytest.mark.parametrize(
    "fraction, percent", [(0, 0), (3, 1), (26, 10), (64, 25), (128, 50), (255, 100), (-1, 0), (300, 100)]
)
def test_rtcp_fraction_lost_to_percent(fraction: int, percent: int) -> None:
    assert loss_percent(fraction) == percent


CASES = [(rate, loss, ptime) for rate in (8000, 16000, 48000) for loss in (2, 10, 25) for ptime in (10, 20)]


@pytest.mark.parametrize(("rate", "loss", "ptime"), CASES, ids=[f"{r}-{pct}pct-{p}ms" for r, pct, p in CASES])
def test_libopus_codes_fec_at_the_floor(rate: int, loss: int, ptime: int) -> None:
    floor = fec_floor(rate, loss, ptime)
    assert fec_share(rate, floor, loss, ptime) > 0.5
    exact = rate <= 16000 or loss > 5  # at 48 kHz and low loss the floor is an upper bound
    if exact:  # within one step of the grid: a step lower may still code FEC, two steps lower does not
        assert fec_share(rate, floor - 800, loss, ptime) < 0.1


def test_fec_floor_without_loss_is_the_opus_minimum() -> None:
    assert fec_floor(48000, 0) == 6000


def test_fec_floor_is_higher_for_cbr_low_complexity_and_short_packets() -> None:
    base = fec_floor(16000, 10)
    assert fec_floor(16000, 10, vbr=False) > base
    assert fec_floor(16000, 10, complexity=0) > base
    assert fec_floor(16000, 10, ptime=10) > base
    assert fec_floor(16000, 10, ptime=10, channels=2) > fec_floor(16000, 10, ptime=10)


def test_controller_starts_at_maxaveragebitrate_with_the_configured_loss_hint() -> None:
    controller = BitrateController(OpusSettings())
    assert (controller.bitrate, controller.max_bitrate, controller.packet_loss_percent) == (30000, 30000, 10)
    assert BitrateController(OpusSettings(), rate=8000).bitrate == 14000
    assert BitrateController(OpusSettings(maxaveragebitrate=40000), rate=16000).bitrate == 40000
    assert BitrateController(OpusSettings(), max_bitrate=1_000_000).max_bitrate == 510000
    assert BitrateController(OpusSettings(), max_bitrate=100).max_bitrate == 6000


def test_heavy_loss_steps_the_bitrate_down_to_the_fec_floor() -> None:
    controller = BitrateController(OpusSettings())
    assert controller.on_loss_report(64, now=0.0) == 26000  # 25 % loss: x (1 - 0.125), on the 400 grid
    assert controller.packet_loss_percent == 25
    steps = [controller.on_loss_report(64, now=float(t)) for t in range(1, 20)]
    assert steps[0] == 22400
    assert controller.bitrate == fec_floor(48000, 25) == 15600  # keep-fec-enabled stops it here
    assert steps[-1] is None


def test_without_keep_fec_heavy_loss_goes_down_to_6000() -> None:
    controller = BitrateController(OpusSettings(keep_fec_enabled=False))
    for t in range(40):
        controller.on_loss_report(128, now=float(t))
    assert controller.bitrate == 6000


def test_low_loss_steps_back_up_at_most_once_per_interval_until_the_ceiling() -> None:
    controller = BitrateController(OpusSettings(keep_fec_enabled=False))
    for t in range(10):
        controller.on_loss_report(128, now=float(t))
    low = controller.bitrate
    assert controller.on_loss_report(0, now=10.0) == 6400  # +5 %, rounded up to the grid
    assert controller.on_loss_report(0, now=10.5) is None  # too soon after the last increase
    assert controller.on_loss_report(0, now=11.0) == 6800
    for t in range(12, 200):
        controller.on_loss_report(0, now=float(t))
    assert low == 6000 and controller.bitrate == 30000
    assert controller.on_loss_report(0, now=300.0) is None


def test_moderate_loss_holds_the_bitrate() -> None:
    controller = BitrateController(OpusSettings())
    controller.on_loss_report(64, now=0.0)
    assert controller.on_loss_report(13, now=5.0) is None  # 5 %: between 2 % and 10 %
    assert controller.bitrate == 26000 and controller.packet_loss_percent == 10


def test_without_adjust_bitrate_only_the_loss_hint_follows_the_reports() -> None:
    controller = BitrateController(OpusSettings(adjust_bitrate=False))
    assert controller.on_loss_report(128, now=0.0) is None
    assert controller.packet_loss_percent == 50 and controller.bitrate == 30000


def test_loss_hint_never_drops_below_the_configured_one_while_keeping_fec() -> None:
    keep = BitrateController(OpusSettings(packet_loss_percent=15))
    keep.on_loss_report(0, now=0.0)
    assert keep.packet_loss_percent == 15
    free = BitrateController(OpusSettings(packet_loss_percent=15, keep_fec_enabled=False))
    free.on_loss_report(0, now=0.0)
    assert free.packet_loss_percent == 0


def test_bitrate_stays_on_the_grid_and_in_range_whatever_the_reports() -> None:
    rng = random.Random(3)
    for settings in (
        OpusSettings(),
        OpusSettings(keep_fec_enabled=False),
        OpusSettings(maxaveragebitrate=64000),
    ):
        controller = BitrateController(settings, rate=rng.choice([8000, 16000, 48000]))
        for t in range(500):
            new = controller.on_loss_report(rng.choice([0, 0, 2, 13, 30, 64, 200, 255]), now=t * 0.7)
            assert new is None or new == controller.bitrate
            assert controller.bitrate % 400 == 0
            assert 6000 <= controller.bitrate <= controller.max_bitrate
