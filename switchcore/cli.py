"""`switchcore`: run the switch in the foreground (the contract other programs rely on).

    switchcore [--conf DIR] [--data DIR] [--log-level LEVEL] [--no-console]

When every module has loaded and every listener is bound, one line beginning
`switchcore ready` is written to standard output.  SIGTERM (or the `shutdown`
command) hangs up every call with SYSTEM_SHUTDOWN, writes the CDRs and exits 0
within 5 seconds; SIGHUP runs `reloadxml`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from . import __version__
from .core import Switch
from .logs import setup_logging

LEVELS = ("debug", "info", "notice", "warning", "err", "error", "crit", "alert", "console")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(
        prog="switchcore",
        description="A telephony switch in Python, in the spirit of FreeSWITCH.",
        epilog="SIGTERM stops cleanly (calls hung up with SYSTEM_SHUTDOWN, CDRs written, exit 0); "
        "SIGHUP reloads the XML configuration.",
    )
    parser.add_argument("--conf", type=Path, default=root / "conf", help="configuration directory (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=root / "data", help="data directory: SQLite store, recordings, logs (default: %(default)s)")
    parser.add_argument("--sounds", type=Path, default=root / "sounds", help="sounds directory (default: %(default)s)")
    parser.add_argument("--log-level", default="info", choices=LEVELS, help="console log level (default: %(default)s)")
    parser.add_argument("--no-console", action="store_true", help="no interactive prompt, even on a terminal (for services)")
    parser.add_argument("--version", action="version", version=f"switchcore {__version__}")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    switch = Switch(args.conf, args.data, sounds_dir=args.sounds)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def terminate() -> None:
        done.set()

    def reload() -> None:
        loop.create_task(_reload(switch))

    loop.add_signal_handler(signal.SIGTERM, terminate)
    loop.add_signal_handler(signal.SIGINT, terminate)
    loop.add_signal_handler(signal.SIGHUP, reload)
    try:
        await switch.start()
    except Exception as exc:
        logging.getLogger("switchcore").critical("start-up failed: %s", exc)
        await switch.stop()
        return 1
    print(switch.ready_line(), flush=True)
    switch.on_shutdown_request = terminate  # type: ignore[attr-defined]
    console = None
    if not args.no_console and sys.stdin.isatty():
        from .console import Console

        console = loop.create_task(Console(switch).run(done))
    await done.wait()
    if console is not None:
        console.cancel()
    try:
        await asyncio.wait_for(switch.stop(), timeout=4.5)
    except TimeoutError:
        logging.getLogger("switchcore").error("shutdown took too long; exiting anyway")
    return 0


async def _reload(switch: Switch) -> None:
    result = await switch.api("reloadxml")
    logging.getLogger("switchcore").info("SIGHUP: %s", result.strip())


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging(args.log_level)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; stock asyncio still works
        sys.exit(asyncio.run(run(args)))
    sys.exit(uvloop.run(run(args)))


if __name__ == "__main__":
    main()
