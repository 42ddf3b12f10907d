"""`switchcore-cli`: the operator console, FreeSWITCH's fs_cli for this switch (libs/esl/fs_cli.c).

    switchcore-cli [-H host] [-P port] [-p password] [-r] [-x "command"] [-l loglevel] [-n]

It is an event-socket client: it authenticates, asks for log lines at the
chosen level, and sends what is typed as `api` commands.  `-x` runs one
command, prints its output and exits 0, or 1 when the answer is `-ERR` /
`-USAGE` or the switch cannot be reached.  At the prompt: history, tab
completion of command names (from `show api`), their literal arguments and
channel uuids; log lines coloured by level; `/log <level>`, `/nolog`,
`/event <names>`, `/noevents`, `/nixevent`, `/uuid <uuid>` (show only that
call's log lines), `/filter`, `/help`, `/quit`; F1-F12 as in fs_cli.  The
CSV answers of `show ...` are drawn as aligned tables (one record per block
when too wide for the terminal).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from .eslwire import Command, EslWireError, Frame, FrameReader, log_level_from_string

# fs_cli.c COLORS, indexed by FreeSWITCH log level: console default, alert/crit/err red,
# warning magenta, notice cyan, info green, debug yellow.
LEVEL_COLOURS = ("\033[0m", "\033[31m", "\033[31m", "\033[31m", "\033[35m", "\033[36m", "\033[32m", "\033[33m")
RESET = "\033[0m"

# fs_cli.c: F1 help ... F12 version.
FUNCTION_KEYS = {
    "f1": "help",
    "f2": "status",
    "f3": "show channels",
    "f4": "show calls",
    "f5": "sofia status",
    "f6": "reloadxml",
    "f7": "/log console",
    "f8": "/log debug",
    "f9": "sofia status profile internal",
    "f10": "fsctl pause",
    "f11": "fsctl resume",
    "f12": "version",
}
SLASH_COMMANDS = ("/help", "/exit", "/quit", "/bye", "/log", "/nolog", "/event", "/noevents", "/nixevent", "/uuid", "/filter")
HELP = """Command                    Description
-----------------------------------------------
/help                      Help
/exit, /quit, /bye, ...    Exit the program.
/event, /noevents, /nixevent  Event commands.
/log, /nolog               Log commands.
/uuid <uuid>               Only show log lines of this call (no uuid: all).
/filter <header> <value>   Filter the events received.
F1-F12                     help, status, show channels, show calls, sofia status, reloadxml,
                           /log console, /log debug, sofia status profile internal,
                           fsctl pause, fsctl resume, version
Anything else is sent as an API command (`status`, `show channels`, `originate ...`).
"""
_TOTAL = re.compile(r"^\d+ total\.$")


class EslConnectError(Exception):
    """The switch could not be reached, refused us, or the password was wrong."""


class EslClient:
    """An asyncio event-socket client: commands answered in order, events and log lines to callbacks."""

    def __init__(self) -> None:
        self.on_event: Callable[[Frame], None] = lambda frame: None
        self.on_log: Callable[[Frame], None] = lambda frame: None
        self.on_disconnect: Callable[[str], None] = lambda reason: None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._frames = FrameReader()
        self._pending: list[asyncio.Future[Frame]] = []
        self._task: asyncio.Task[None] | None = None
        self.connected = False

    async def connect(self, host: str, port: int, password: str, timeout: float = 5.0) -> None:
        try:
            self._reader, self._writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            greeting = await asyncio.wait_for(self._read_frame(), timeout)
        except (OSError, TimeoutError, EslWireError) as exc:
            raise EslConnectError(f"cannot connect to {host}:{port}: {exc or type(exc).__name__}") from None
        if greeting is None or greeting.content_type != "auth/request":
            reason = greeting.body.strip() if greeting is not None else "connection closed"
            raise EslConnectError(f"{host}:{port} refused the connection: {reason}")
        self.connected = True
        self._task = asyncio.get_running_loop().create_task(self._read_loop())
        reply = await asyncio.wait_for(self.command(f"auth {password}"), timeout)
        if reply.reply_text != "+OK accepted":
            await self.close()
            raise EslConnectError(f"{host}:{port}: authentication failed ({reply.reply_text or 'closed'})")

    async def _read_frame(self) -> Frame | None:
        assert self._reader is not None
        while True:
            frame = self._frames.next_frame()
            if frame is not None:
                return frame
            data = await self._reader.read(65536)
            if not data:
                return None
            self._frames.receive_data(data)

    async def _read_loop(self) -> None:
        reason = "connection closed"
        try:
            while (frame := await self._read_frame()) is not None:
                kind = frame.content_type
                if kind in ("command/reply", "api/response"):
                    if self._pending:
                        future = self._pending.pop(0)
                        if not future.done():
                            future.set_result(frame)
                elif kind == "log/data":
                    self.on_log(frame)
                elif kind.startswith("text/event-"):
                    self.on_event(frame)
                elif kind == "text/disconnect-notice":
                    reason = frame.body.strip() or "disconnected"
        except (OSError, EslWireError) as exc:
            reason = str(exc)
        self.connected = False
        for future in self._pending:
            if not future.done():
                future.set_result(Frame((("Content-Type", "command/reply"), ("Reply-Text", f"-ERR {reason}"))))
        self._pending.clear()
        self.on_disconnect(reason)

    async def command(self, line: str, headers: Iterable[tuple[str, str]] = ()) -> Frame:
        """Send one command block and wait for its reply (command/reply or api/response)."""
        if self._writer is None or not self.connected:
            return Frame((("Content-Type", "command/reply"), ("Reply-Text", "-ERR not connected")))
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._pending.append(future)
        self._writer.write(bytes(Command(line, tuple(headers))))
        await self._writer.drain()
        return await future

    async def api(self, line: str) -> str:
        frame = await self.command(f"api {line}")
        return frame.body if frame.content_type == "api/response" else frame.reply_text + "\n"

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()


# ---- tables -----------------------------------------------------------------------------------


def render_table(text: str, width: int | None = None) -> str:
    """Draw FreeSWITCH's CSV answers (`show channels`: header, rows, `N total.`) as an aligned table.

    Columns empty in every row are left out; when the table is still wider than
    the terminal, each row is drawn as a block of `name | value` lines.  Text
    that is not such a table is returned as it is.
    """
    lines = text.rstrip("\n").split("\n")
    content = [line for line in lines if line.strip()]
    if len(content) < 3 or not _TOTAL.match(content[-1]) or "," not in content[0]:
        return text
    header = content[0].split(",")
    rows = [r.split(",") for r in content[1:-1]]
    if any(len(r) != len(header) for r in rows):
        return text
    keep = [i for i in range(len(header)) if any(r[i] for r in rows)]
    names = [header[i] for i in keep]
    cells = [[r[i] for i in keep] for r in rows]
    widths = [max(len(n), *(len(c[j]) for c in cells)) for j, n in enumerate(names)]
    width = width or shutil.get_terminal_size((160, 24)).columns
    if sum(widths) + 2 * (len(widths) - 1) <= width:
        out = ["  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)).rstrip()]
        out.append("  ".join("-" * w for w in widths))
        out.extend("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)
    else:
        label = max(len(n) for n in names)
        out = []
        for number, row in enumerate(cells, 1):
            out.append(f"-[ RECORD {number} ]" + "-" * max(0, min(width, 60) - 14 - len(str(number))))
            out.extend(f"{n.ljust(label)} | {c}" for n, c in zip(names, row, strict=True))
    return "\n".join(out) + f"\n\n{content[-1]}\n"


def colour_log(frame: Frame, colour: bool) -> str:
    text = frame.body
    if not colour:
        return text
    level = frame.get("Log-Level")
    code = LEVEL_COLOURS[int(level)] if level.isdigit() and int(level) < len(LEVEL_COLOURS) else ""
    return f"{code}{text.rstrip(chr(10))}{RESET}\n"


def format_event(frame: Frame) -> str:
    event = frame.event()
    lines = [f"RECV EVENT {event.name}"]
    lines.extend(f"{k}: {v}" for k, v in event.headers.items())
    if event.body:
        lines.extend(["", event.body.rstrip("\n")])
    return "\n".join(lines) + "\n\n"


# ---- completion -------------------------------------------------------------------------------


def literal_words(syntax: str) -> list[str]:
    """The literal arguments of a syntax string (`channels [count|like <text>]|calls` -> channels, count ...)."""
    return re.findall(r"(?<![\w-])-?[A-Za-z_][\w-]*", re.sub(r"<[^>]*>", " ", syntax))


def parse_show_api(text: str) -> dict[str, str]:
    """`show api` CSV (name,description,syntax,ikey) -> {name: syntax}."""
    commands: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        parts = line.split(",")
        if len(parts) >= 3 and parts[0] and not _TOTAL.match(line):
            commands[parts[0]] = parts[2]
    return commands


def candidates(text: str, commands: dict[str, str], uuids: Iterable[str]) -> list[str]:
    """Completions for the word being typed at the end of `text`."""
    words = text.split(" ")
    current = words[-1]
    if len(words) == 1:
        pool: Iterable[str] = SLASH_COMMANDS if current.startswith("/") else commands
    else:
        syntax = commands.get(words[0], "")
        pool = list(dict.fromkeys(literal_words(syntax)))
        if "uuid" in syntax or words[0].startswith("uuid_"):
            pool += list(uuids)
    return sorted(w for w in pool if w.startswith(current) and w != current)


# ---- the interactive console ------------------------------------------------------------------


class Console:
    """The prompt: one line in, one API command (or slash command) out, log lines printed meanwhile."""

    def __init__(self, client: EslClient, args: argparse.Namespace) -> None:
        self.client = client
        self.args = args
        self.colour = not args.no_color and sys.stdout.isatty()
        self.uuid_filter = ""
        self.commands: dict[str, str] = {}
        self.uuids: list[str] = []
        self.done = asyncio.Event()
        client.on_log = self._log
        client.on_event = lambda frame: print(format_event(frame), end="", flush=True)
        client.on_disconnect = self._disconnected

    def _log(self, frame: Frame) -> None:
        if self.uuid_filter and frame.get("User-Data") != self.uuid_filter:
            return
        print(colour_log(frame, self.colour), end="", flush=True)

    def _disconnected(self, reason: str) -> None:
        print(f"\nDisconnected: {reason}", flush=True)
        self.done.set()

    async def refresh(self) -> None:
        """What completion offers: command names and syntax, live channel uuids."""
        self.commands = parse_show_api(await self.client.api("show api")) or self.commands
        channels = await self.client.api("show channels")
        self.uuids = [line.split(",", 1)[0] for line in channels.splitlines()[1:] if line.count(",") > 5]

    async def run(self) -> int:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.completion import Completer, Completion
        from prompt_toolkit.history import FileHistory, InMemoryHistory
        from prompt_toolkit.key_binding import KeyBindings
        from prompt_toolkit.patch_stdout import patch_stdout

        console = self

        class ApiCompleter(Completer):
            def get_completions(self, document, complete_event):  # type: ignore[no-untyped-def]
                text = document.text_before_cursor
                current = text.split(" ")[-1]
                for word in candidates(text, console.commands, console.uuids):
                    yield Completion(word, start_position=-len(current))

        bindings = KeyBindings()
        for key, command in FUNCTION_KEYS.items():

            def press(event, command: str = command) -> None:  # type: ignore[no-untyped-def]
                event.current_buffer.text = command
                event.current_buffer.validate_and_handle()

            bindings.add(key)(press)
        history_file = Path(os.environ.get("SWITCHCORE_CLI_HISTORY", Path.home() / ".switchcore_cli_history"))
        try:
            history: FileHistory | InMemoryHistory = FileHistory(str(history_file))
        except OSError:
            history = InMemoryHistory()
        prompt: PromptSession[str] = PromptSession(
            history=history, completer=ApiCompleter(), key_bindings=bindings, complete_while_typing=False
        )
        label = f"switchcore@{self.args.host}> "
        await self.refresh()
        if not self.args.quiet:
            await self.client.command(f"log {self.args.log_level}")
        with patch_stdout(raw=True):
            while not self.done.is_set():
                reading = asyncio.ensure_future(prompt.prompt_async(label))
                closed = asyncio.ensure_future(self.done.wait())
                await asyncio.wait({reading, closed}, return_when=asyncio.FIRST_COMPLETED)
                closed.cancel()
                if not reading.done():
                    reading.cancel()
                    break
                try:
                    line = reading.result().strip()
                except (EOFError, KeyboardInterrupt):
                    break
                if line and not await self.handle(line):
                    break
                asyncio.get_running_loop().create_task(self.refresh())
        return 0

    async def handle(self, line: str) -> bool:
        """Carry out one line; False to leave."""
        if line in ("/exit", "/quit", "/bye", "...", "exit", "quit"):
            return False
        if not line.startswith("/"):
            print(render_table(await self.client.api(line)), end="", flush=True)
            return True
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        if word == "/help":
            print(HELP, end="")
            return True
        if word == "/uuid":
            self.uuid_filter = rest
            print(f"+OK log filter {'on ' + rest if rest else 'off'}")
            return True
        if word == "/log" and rest and log_level_from_string(rest) is None:
            print(f"-ERR invalid log level {rest}")
            return True
        commands = {
            "/log": f"log {rest or 'debug'}",
            "/nolog": "nolog",
            "/noevents": "noevents",
            "/nixevent": f"nixevent {rest}",
            "/filter": f"filter {rest}",
            "/event": "event " + (rest if rest.split(" ")[0] in ("plain", "json", "xml") else f"plain {rest}"),
        }
        if word not in commands:
            print(f"Unknown command [{word}]")
            return True
        reply = await self.client.command(commands[word])
        print(reply.reply_text)
        return True


# ---- entry point ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="switchcore-cli",
        description="The switchcore operator console (an event-socket client, as FreeSWITCH's fs_cli).",
    )
    parser.add_argument("-H", "--host", default=os.environ.get("SWITCHCORE_CLI_HOST", "127.0.0.1"), help="host to connect to (default: %(default)s)")
    parser.add_argument("-P", "--port", type=int, default=int(os.environ.get("SWITCHCORE_CLI_PORT", "8021")), help="port (default: %(default)s)")
    parser.add_argument("-p", "--password", default=os.environ.get("SWITCHCORE_CLI_PASSWORD", "ClueCon"), help="event socket password")
    parser.add_argument("-r", "--retry", action="store_true", help="retry the connection (once a second) until it works")
    parser.add_argument("-x", "--execute", metavar="COMMAND", help="run one command, print its output and exit (1 on -ERR)")
    parser.add_argument("-l", "--log-level", default="info", help="log level to show at the prompt (default: %(default)s)")
    parser.add_argument("-q", "--quiet", action="store_true", help="do not ask for log lines")
    parser.add_argument("-n", "--no-color", action="store_true", help="no colours")
    parser.add_argument("-T", "--connect-timeout", type=float, default=5.0, help="seconds to wait for the switch")
    parser.add_argument("--raw", action="store_true", help="print `show` answers as the switch sent them (CSV)")
    parser.add_argument("--retry-attempts", type=int, default=60, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if log_level_from_string(args.log_level) is None:
        parser.error(f"invalid log level {args.log_level}")
    return args


async def connect(args: argparse.Namespace) -> EslClient:
    attempts = args.retry_attempts if args.retry else 1
    for attempt in range(1, attempts + 1):
        client = EslClient()
        try:
            await client.connect(args.host, args.port, args.password, args.connect_timeout)
            return client
        except EslConnectError as exc:
            if attempt == attempts or "authentication" in str(exc):
                raise
            print(f"{exc}; retrying ({attempt}/{attempts})", file=sys.stderr)
            await asyncio.sleep(1)
    raise EslConnectError("unreachable")


async def run(args: argparse.Namespace) -> int:
    try:
        client = await connect(args)
    except EslConnectError as exc:
        print(f"switchcore-cli: {exc}", file=sys.stderr)
        return 1
    try:
        if args.execute is not None:
            frame = await client.command(f"api {args.execute}")
            text = frame.body if frame.content_type == "api/response" else frame.reply_text + "\n"
            if not args.raw and sys.stdout.isatty():
                text = render_table(text)
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            sys.stdout.flush()
            return 0 if frame.ok else 1
        return await Console(client, args).run()
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(run(args)))
    sys.exit(130)


if __name__ == "__main__":
    main()
