"""Child-process plumbing shared by the peers: spawn, log to a file, stop by process group, async facade.

Every peer is started in its own session, so its process-group id is the pid we got back from
``Popen``; ``stop()`` signals that group (and only that group), which also reaches the workers
kamailio forks.  When started from the main thread the child also gets ``PR_SET_PDEATHSIG``, so
a killed pytest does not leave peers behind.  (Not from other threads: Linux sends the signal when
the spawning *thread* exits, which would kill a peer started from a worker thread too early.)
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import IO, Any

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        with contextlib.suppress(Exception):
            ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class PeerProcess:
    """A started child process whose stderr (and stdout unless piped) go to ``log_path``."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log_path: Path,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        stdin: int | IO[Any] | None = subprocess.DEVNULL,
        pipe_stdout: bool = False,
    ) -> None:
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        on_main_thread = threading.current_thread() is threading.main_thread()
        self.popen: subprocess.Popen[bytes] = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=env,
            stdin=stdin,
            stdout=subprocess.PIPE if pipe_stdout else self._log,
            stderr=self._log,
            start_new_session=True,
            preexec_fn=_die_with_parent if on_main_thread else None,
        )
        self.pid = self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the log, for assertion messages."""
        try:
            text = self.log_path.read_bytes()[-200_000:].decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait(self, timeout: float | None = None) -> int:
        return self.popen.wait(timeout)

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def stop(self, timeout: float = 5.0, sig: int = signal.SIGTERM) -> int | None:
        """Signal the process group, wait, then SIGKILL the group if it is still there."""
        if self.popen.poll() is None:
            self.signal_group(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.popen.wait(2.0)
        # Forked workers (kamailio) may outlive the leader by a moment; make sure the group is gone.
        self._reap_group(timeout=2.0)
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with contextlib.suppress(OSError):
            self._log.close()
        return self.popen.returncode

    def _reap_group(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self.pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.05)
        self.signal_group(signal.SIGKILL)


class AsyncFacade:
    """``await peer.aio.method(...)`` runs the blocking ``peer.method(...)`` in a worker thread.

    The switch under test may run in the test's own event loop; a blocking ``wait_for`` there
    would freeze it, so async tests use this facade.
    """

    def __init__(self, target: object) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Callable[..., Coroutine[Any, Any, Any]]:
        method = getattr(self._target, name)
        if not callable(method):
            raise AttributeError(f"{type(self._target).__name__}.{name} is not a method")

        async def run(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        run.__name__ = name
        return run
