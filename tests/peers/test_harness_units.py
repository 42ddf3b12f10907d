"""Fast checks of the harness's pure parts: tone detection, G.711, the pcap writer, parsers, config text."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from tests.peers import audio
from tests.peers.kamailio import render_config
from tests.peers.ports import PortAllocator
from tests.peers.sipp import Sipp, SippError, SippStats


def test_ulaw_round_trip_keeps_a_tone_and_matches_g711_segment_ends() -> None:
    # G.711 table 2a: code 0xFF is +0, 0x80 is the largest positive value (8031 << 2 = 32124).
    assert audio.linear_to_ulaw([0, 32124, -32124]) == bytes([0xFF, 0x80, 0x00])
    assert list(audio.ulaw_to_linear(bytes([0xFF, 0x80, 0x00]))) == [0.0, 32124.0, -32124.0]
    tone = audio.sine(1000, 1.0)
    decoded = audio.ulaw_to_linear(audio.linear_to_ulaw(tone))
    assert audio.band_energy_ratio(decoded, 8000, 1000) > 0.99
    assert np.max(np.abs(decoded - tone)) < 400  # within one quantisation step of the largest segment


def test_tone_present_survives_lead_silence_and_gaps_but_rejects_other_tones(tmp_path: Path) -> None:
    rate = 16000
    signal = np.concatenate(
        [np.zeros(rate // 2), audio.sine(600, 1.0, rate), np.zeros(rate // 4), audio.sine(600, 1.0, rate)]
    )
    noisy = signal + np.random.default_rng(1).normal(0, 60, len(signal))
    path = audio.write_wav(tmp_path / "x.wav", noisy, rate)
    samples, got_rate = audio.read_wav(path)
    assert got_rate == rate
    assert audio.tone_present(samples, rate, 600)
    assert not audio.tone_present(samples, rate, 1000)
    assert abs(audio.dominant_frequency(samples, rate) - 600) < 5
    assert not audio.tone_present(np.zeros(rate * 2), rate, 600)


def test_write_tone_wav_writes_mono_16_bit_at_the_requested_rate(tmp_path: Path) -> None:
    path = audio.write_tone_wav(tmp_path / "t.wav", 440, 0.5, rate=8000, lead_silence=0.25)
    samples, rate = audio.read_wav(path)
    assert rate == 8000 and len(samples) == 6000
    assert audio.rms(samples[:2000]) == 0.0
    assert 6900 < audio.rms(samples[2000:]) < 7200


def test_pcmu_pcap_holds_rtp_packets_with_20ms_spacing(tmp_path: Path) -> None:
    data = audio.write_pcmu_tone_pcap(tmp_path / "t.pcap", 1000, 1.0).read_bytes()
    magic, major, minor, _, _, snaplen, linktype = struct.unpack("<IHHiIII", data[:24])
    assert (magic, major, minor, linktype) == (0xA1B2C3D4, 2, 4, 1)
    offset, stamps, payload = 24, [], b""
    while offset < len(data):
        sec, usec, incl, orig = struct.unpack("<IIII", data[offset : offset + 16])
        frame = data[offset + 16 : offset + 16 + incl]
        assert incl == orig == 14 + 20 + 8 + 12 + 160
        assert frame[12:14] == b"\x08\x00" and frame[14 + 9] == 17  # IPv4, UDP
        rtp = frame[14 + 20 + 8 :]
        assert rtp[0] == 0x80 and rtp[1] & 0x7F == 0  # RTP version 2, payload type 0 (PCMU)
        stamps.append(sec + usec / 1e6)
        payload += rtp[12:]
        offset += 16 + incl
    assert len(stamps) == 50
    assert np.allclose(np.diff(stamps), 0.02)
    assert audio.band_energy_ratio(audio.ulaw_to_linear(payload), 8000, 1000, skip_seconds=0) > 0.99


def test_sipp_stats_come_from_the_last_csv_row() -> None:
    header = "StartTime;CurrentTime;TotalCallCreated;SuccessfulCall(C);FailedCall(C);Retransmissions(C);CallRate(C);"
    first = "2026-01-01\t00:00:00.000000\t100.000000;2026-01-01\t00:00:01.000000\t101.000000;1;0;0;0;1.0;"
    last = "2026-01-01\t00:00:00.000000\t100.000000;2026-01-01\t00:00:02.500000\t102.500000;60;59;1;3;24.5;"
    stats = SippStats.from_csv("\n".join([header, first, last]) + "\n")
    assert stats is not None
    assert (stats.created, stats.successful, stats.failed, stats.retransmissions) == (60, 59, 1, 3)
    assert stats.call_rate == 24.5 and stats.elapsed == 2.5
    assert SippStats.from_csv(header) is None


def test_sipp_command_line_names_scenario_ports_and_credentials(tmp_path: Path) -> None:
    sipp = Sipp(
        "register_auth",
        "127.0.0.1:5060",
        local_port=15390,
        media_port=40990,
        service="alice",
        auth_user="alice",
        auth_password="pw",
        workdir=tmp_path,
    )
    argv = sipp.argv
    assert argv[:2] == ["sipp", "127.0.0.1:5060"]
    assert argv[argv.index("-sf") + 1].endswith("tests/peers/scenarios/register_auth.xml")
    for flag, value in (
        ("-p", "15390"),
        ("-mp", "40990"),
        ("-s", "alice"),
        ("-au", "alice"),
        ("-ap", "pw"),
        ("-m", "1"),
        ("-i", "127.0.0.1"),
    ):
        assert argv[argv.index(flag) + 1] == value
    assert "-nostdin" in argv and "-timeout_error" in argv
    assert Sipp("uas", local_port=15391, media_port=40992, workdir=tmp_path).argv[1:3] == ["-sn", "uas"]
    with pytest.raises(SippError, match="no sipp scenario"):
        Sipp("no_such_scenario", "127.0.0.1:5060", local_port=15392, media_port=40994, workdir=tmp_path)


def test_uac_echo_rtp_gets_its_tone_pcap_written_next_to_sipp(tmp_path: Path) -> None:
    Sipp(
        "uac_echo_rtp",
        "127.0.0.1:5060",
        local_port=15393,
        media_port=40996,
        duration_ms=3000,
        workdir=tmp_path,
    )
    assert (tmp_path / "tone_1000hz_pcmu.pcap").stat().st_size > 24 + 5 * 50 * 200


def test_kamailio_config_seeds_users_routes_and_trusted_ports() -> None:
    text = render_config(15310, {"alice": "pw1"}, routes={"^9": "sip:127.0.0.1:15080"}, trusted_ports=[15311])
    assert "listen=udp:127.0.0.1:15310" in text and "listen=tcp:127.0.0.1:15310" in text
    assert '$sht(users=>alice) = "pw1";' in text
    assert 'if ($rU =~ "^9") { $du = "sip:127.0.0.1:15080";' in text
    assert "!($sp == 15311)" in text
    with pytest.raises(ValueError, match="password"):
        render_config(15310, {"alice": 'bad"quote'})


def test_port_allocator_walks_the_range_and_skips_busy_ports() -> None:
    import socket

    ports = PortAllocator(sip=(15380, 15389), rtp=(40980, 40999), ctrl=(15440, 15449))
    first = ports.sip()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", first + 1))
        second = ports.sip()
    assert second == first + 2
    block = ports.rtp(4)
    assert block % 2 == 0 and 40980 <= block <= 40996
