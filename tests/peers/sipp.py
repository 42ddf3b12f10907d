"""Run sipp 3.6 scenarios against a target and read back what happened.

``Sipp("uac_bye", "127.0.0.1:5060", local_port=15330, media_port=40600, service="1000").run()``
returns a :class:`SippResult` with the exit code and the final statistics.

* ``scenario`` is a built-in (``uac``, ``uas``, ... passed as ``-sn``), the name of a file in
  ``tests/peers/scenarios/`` (``"register_auth"``) or a path to any scenario XML (``-sf``).
* sipp always runs with ``-nostdin`` (no terminal), ``-i``/``-mi`` 127.0.0.1, a global
  ``-timeout`` (a hung test ends) and ``-trace_stat -stf stats.csv -fd 1``, ``-trace_screen``
  and ``-trace_err`` in its own working directory; the statistics come from the last CSV row.
* sipp binds the media port given with ``-mp`` and the one two above it even for signalling-only
  scenarios, so ``media_port`` is required; parallel sipps need distinct ones.
* Exit codes (sipp(1)): 0 every call succeeded, 1 at least one failed, 97 stopped by an internal
  command, 99 no call was processed, 255/254 (-1/-2) fatal error or could not bind.
* Scenarios use ``[caller]`` for the From user; it is passed as ``-key caller`` (default ``sipp``).
* ``uac_echo_rtp`` replays ``tone_1000hz_pcmu.pcap``; the runner writes it into the working
  directory (long enough for the call's pause) whenever a scenario refers to it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import audio
from .process import AsyncFacade, PeerProcess

SIPP = "sipp"
LOOPBACK = "127.0.0.1"
SCENARIO_DIR = Path(__file__).with_name("scenarios")
BUILTIN_SCENARIOS = frozenset(
    {
        "uac",
        "uas",
        "regexp",
        "branchc",
        "branchs",
        "3pcc-C-A",
        "3pcc-C-B",
        "3pcc-A",
        "3pcc-B",
        "uac_pcap",
        "ooc_default",
    }
)
TONE_PCAP = "tone_1000hz_pcmu.pcap"
EXIT_MEANINGS = {
    0: "all calls succeeded",
    1: "at least one call failed",
    97: "stopped by an internal command",
    99: "no call processed",
    255: "fatal error",
    254: "fatal error binding a socket",
}


class SippError(RuntimeError):
    """sipp could not be started or did not finish in time."""


def _int(raw: dict[str, str], key: str) -> int:
    try:
        return int(float(raw.get(key, "0") or 0))
    except ValueError:
        return 0


def _epoch(value: str) -> float | None:
    """sipp timestamps look like ``2026-11-26<TAB>06:05:57.648033<TAB>1795673157.648033``."""
    try:
        return float(value.split("\t")[-1])
    except ValueError:
        return None


def _elapsed(raw: dict[str, str]) -> float:
    start, now = _epoch(raw.get("StartTime", "")), _epoch(raw.get("CurrentTime", ""))
    return round(now - start, 3) if start is not None and now is not None else 0.0


@dataclass(frozen=True, slots=True)
class SippStats:
    """Cumulative counters from the last row of sipp's ``-trace_stat`` CSV."""

    created: int
    successful: int
    failed: int
    retransmissions: int
    unexpected: int
    timeouts: int
    dead_call_msgs: int
    call_rate: float
    elapsed: float
    raw: dict[str, str] = field(repr=False, compare=False)

    @classmethod
    def from_csv(cls, text: str) -> SippStats | None:
        rows = [row for row in csv.reader(io.StringIO(text), delimiter=";") if row]
        if len(rows) < 2:
            return None
        raw = dict(zip(rows[0], rows[-1], strict=False))
        try:
            rate = float(raw.get("CallRate(C)", "0") or 0)
        except ValueError:
            rate = 0.0
        return cls(
            created=_int(raw, "TotalCallCreated"),
            successful=_int(raw, "SuccessfulCall(C)"),
            failed=_int(raw, "FailedCall(C)"),
            retransmissions=_int(raw, "Retransmissions(C)"),
            unexpected=_int(raw, "FailedUnexpectedMessage(C)"),
            timeouts=_int(raw, "FailedTimeoutOnRecv(C)") + _int(raw, "FailedMaxUDPRetrans(C)"),
            dead_call_msgs=_int(raw, "DeadCallMsgs(C)"),
            call_rate=rate,
            elapsed=_elapsed(raw),
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class SippResult:
    """How a sipp run ended."""

    returncode: int
    stats: SippStats | None
    output: str
    errors: str
    argv: list[str]
    workdir: Path

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def successful(self) -> int:
        return self.stats.successful if self.stats else 0

    @property
    def failed(self) -> int:
        return self.stats.failed if self.stats else 0

    def summary(self) -> str:
        meaning = EXIT_MEANINGS.get(self.returncode, "?")
        return f"sipp exit {self.returncode} ({meaning}); {self.stats}"

    def details(self) -> str:
        """Summary, command line, unexpected messages and the output tail: for assertion messages."""
        return (
            f"{self.summary()}\n$ {' '.join(self.argv)}\n(workdir {self.workdir})\n"
            f"--- errors ---\n{self.errors[-3000:]}\n--- output ---\n{self.output[-3000:]}"
        )

    def assert_ok(self, calls: int | None = None) -> SippResult:
        """Raise ``AssertionError`` unless sipp exited 0 (and, if given, exactly ``calls`` succeeded)."""
        if not self.ok or (calls is not None and self.successful != calls):
            raise AssertionError(self.details())
        return self


class Sipp:
    """One sipp process: build the command line, start, wait, parse."""

    def __init__(
        self,
        scenario: str | Path,
        target: str | None = None,
        *,
        local_port: int,
        media_port: int,
        calls: int | None = 1,
        rate: float | None = None,
        rate_period_ms: int | None = None,
        limit: int | None = None,
        duration_ms: int | None = None,
        timeout: float | None = 20.0,
        timeout_error: bool = True,
        service: str | None = None,
        caller: str = "sipp",
        auth_user: str | None = None,
        auth_password: str | None = None,
        transport: str = "u1",
        keys: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
        trace_messages: bool | None = None,
        rtp_echo: bool = False,
        workdir: str | Path | None = None,
    ) -> None:
        self.scenario = str(scenario)
        self.target = target
        self.local_port = local_port
        self.media_port = media_port
        self.calls = calls
        self.timeout = timeout
        self.workdir = (
            Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"sipp-{Path(self.scenario).stem}-"))
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process: PeerProcess | None = None
        self._result: SippResult | None = None

        scenario_args, scenario_text = self._scenario_args()
        if duration_ms is None and TONE_PCAP in scenario_text:
            duration_ms = 4000
        if TONE_PCAP in scenario_text:
            seconds = max(5.0, (duration_ms or 0) / 1000.0 + 2.0)
            audio.write_pcmu_tone_pcap(self.workdir / TONE_PCAP, 1000.0, seconds)
        argv: list[str] = [SIPP]
        if target:
            argv.append(target)
        argv += scenario_args
        argv += [
            "-i",
            LOOPBACK,
            "-p",
            str(local_port),
            "-mi",
            LOOPBACK,
            "-mp",
            str(media_port),
            "-nostdin",
            "-t",
            transport,
            "-key",
            "caller",
            caller,
        ]
        if calls is not None:
            argv += ["-m", str(calls)]
        if rate is not None:
            argv += ["-r", f"{rate:g}"]
        if rate_period_ms is not None:
            argv += ["-rp", str(rate_period_ms)]
        if limit is not None:
            argv += ["-l", str(limit)]
        if duration_ms is not None:
            argv += ["-d", str(duration_ms)]
        if timeout is not None:
            argv += ["-timeout", f"{timeout:g}s"]
            if timeout_error:
                argv.append("-timeout_error")
        if service is not None:
            argv += ["-s", service]
        if auth_user is not None:
            argv += ["-au", auth_user]
        if auth_password is not None:
            argv += ["-ap", auth_password]
        for key, value in (keys or {}).items():
            argv += ["-key", key, value]
        if rtp_echo:
            argv.append("-rtp_echo")
        argv += [
            "-trace_stat",
            "-stf",
            str(self.stats_path),
            "-fd",
            "1",
            "-trace_screen",
            "-screen_file",
            str(self.workdir / "screen.log"),
            "-trace_err",
            "-error_file",
            str(self.errors_path),
        ]
        if trace_messages if trace_messages is not None else (calls is not None and calls <= 20):
            argv += ["-trace_msg", "-message_file", str(self.workdir / "messages.log")]
        argv += list(extra_args or [])
        self.argv = argv

    def _scenario_args(self) -> tuple[list[str], str]:
        if self.scenario in BUILTIN_SCENARIOS:
            return ["-sn", self.scenario], ""
        path = Path(self.scenario)
        if path.suffix != ".xml":
            path = SCENARIO_DIR / f"{self.scenario}.xml"
        if not path.is_file():
            known = sorted(p.stem for p in SCENARIO_DIR.glob("*.xml"))
            raise SippError(
                f"no sipp scenario {self.scenario!r} (built-ins: {sorted(BUILTIN_SCENARIOS)}; files: {known})"
            )
        return ["-sf", str(path.resolve())], path.read_text(encoding="latin-1")

    @property
    def stats_path(self) -> Path:
        return self.workdir / "stats.csv"

    @property
    def errors_path(self) -> Path:
        return self.workdir / "errors.log"

    @property
    def messages_path(self) -> Path:
        return self.workdir / "messages.log"

    # --- running -----------------------------------------------------------------------------

    def start(self) -> Sipp:
        """Start sipp in the background (a uas waiting for calls, or a uac to ``wait`` for)."""
        if self.process is not None:
            raise SippError("sipp already started")
        self.process = PeerProcess(self.argv, log_path=self.workdir / "output.log", cwd=self.workdir)
        return self

    def wait(self, timeout: float | None = None) -> SippResult:
        """Wait for sipp to exit by itself (after ``calls`` calls or its ``-timeout``) and parse."""
        if self.process is None:
            raise SippError("sipp not started")
        if timeout is None:
            timeout = (self.timeout or 60.0) + 10.0
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            self.stop()
            raise SippError(f"sipp did not finish within {timeout} s\n{self.result().details()}") from exc
        return self.result()

    def run(self, timeout: float | None = None) -> SippResult:
        """Start, wait, parse: the usual way to run a client scenario."""
        return self.start().wait(timeout)

    def stop(self) -> SippResult:
        """End a running sipp (SIGUSR1 = quit like 'q', then SIGTERM/SIGKILL) and parse its results."""
        if self.process is not None and self.process.alive():
            self.process.signal_group(signal.SIGUSR1)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(3.0)
        if self.process is not None:
            self.process.stop(timeout=2.0)
        return self.result()

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def result(self) -> SippResult:
        if self.process is None:
            raise SippError("sipp not started")
        code = self.process.returncode
        output = self.process.log_tail(200)
        errors = self.errors_path.read_text(errors="replace") if self.errors_path.exists() else ""
        stats_text = self.stats_path.read_text(errors="replace") if self.stats_path.exists() else ""
        return SippResult(
            returncode=-999 if code is None else (code & 0xFF if code >= 0 else code),
            stats=SippStats.from_csv(stats_text),
            output=output,
            errors=errors,
            argv=self.argv,
            workdir=self.workdir,
        )

    @property
    def aio(self) -> AsyncFacade:
        return AsyncFacade(self)

    def close(self) -> None:
        if self.alive():
            self.stop()

    def __enter__(self) -> Sipp:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
