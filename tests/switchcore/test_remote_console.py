"""switchcore-cli: tables, completion, the client against a real event socket, `-x` exit codes,
and the interactive console in a real terminal (tmux)."""

from __future__ import annotations

import asyncio
import shutil
import sys
import uuid as uuidlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modules.mod_event_socket.server import EventSocketServer
from modules.mod_event_socket.settings import EslSettings
from switchcore.core import Switch
from switchcore.eslwire import Frame, LogLine, log_frame
from switchcore.remote_console import (
    EslClient,
    EslConnectError,
    candidates,
    colour_log,
    literal_words,
    parse_args,
    parse_show_api,
    render_table,
)
from tests.modules.mod_event_socket.conftest import minimal_switch, next_port, stop_switch

ROOT = Path(__file__).resolve().parents[2]
CSV = "uuid,direction,name,empty\nabc,outbound,loopback/1-a,\ndef,inbound,loopback/1-b,\n\n2 total.\n"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Switch, EventSocketServer]]:
    sw = await minimal_switch(tmp_path)
    server = EventSocketServer(sw, EslSettings(listen_port=next_port()))
    await server.start()
    try:
        yield sw, server
    finally:
        await server.stop()
        await stop_switch(sw)


# ---- pure parts ---------------------------------------------------------------------------------


def test_csv_answers_become_aligned_tables_without_empty_columns() -> None:
    table = render_table(CSV, width=120)
    assert table.splitlines()[0].split() == ["uuid", "direction", "name"]
    assert table.splitlines()[2] == "abc   outbound   loopback/1-a"
    assert table.endswith("\n\n2 total.\n")


def test_tables_too_wide_for_the_terminal_become_records() -> None:
    table = render_table(CSV, width=20)
    assert "-[ RECORD 1 ]" in table
    assert "direction | outbound" in table


def test_text_that_is_no_table_is_left_alone() -> None:
    assert render_table("+OK accepted\n") == "+OK accepted\n"
    assert render_table("\n0 total.\n") == "\n0 total.\n"


def test_completion_offers_commands_their_words_and_uuids() -> None:
    commands = parse_show_api(
        "name,description,syntax,ikey\nshow,Show,channels [count|like <text>]|calls,mod_commands\n"
        "status,Status,,mod_commands\nuuid_kill,Kill,<uuid> [cause],mod_commands\n\n3 total.\n"
    )
    assert commands == {
        "show": "channels [count|like <text>]|calls",
        "status": "",
        "uuid_kill": "<uuid> [cause]",
    }
    assert candidates("st", commands, []) == ["status"]
    assert candidates("show c", commands, []) == ["calls", "channels", "count"]
    assert candidates("uuid_kill 12", commands, ["1234", "5678"]) == ["1234"]
    assert candidates("/lo", commands, []) == ["/log"]
    assert literal_words("<uuid> [-bleg|-both] <dest-exten>") == ["-bleg", "-both"]


def test_log_lines_are_coloured_by_level() -> None:
    frame = Frame.parse(log_frame(LogLine("x [ERR] boom\n", level=3)))
    assert colour_log(frame, True) == "\033[31mx [ERR] boom\033[0m\n"
    assert colour_log(frame, False) == "x [ERR] boom\n"


def test_fs_cli_options() -> None:
    args = parse_args(["-H", "10.0.0.1", "-P", "8022", "-p", "pw", "-x", "status", "-r"])
    assert (args.host, args.port, args.password, args.execute, args.retry) == (
        "10.0.0.1",
        8022,
        "pw",
        "status",
        True,
    )


# ---- the client ---------------------------------------------------------------------------------


async def test_client_runs_api_and_receives_log_lines(served: tuple[Switch, EventSocketServer]) -> None:
    import logging

    _, server = served
    client = EslClient()
    lines: list[Frame] = []
    client.on_log = lines.append
    await client.connect("127.0.0.1", server.address[1], "ClueCon")
    assert "is ready" in await client.api("status")
    assert (await client.command("log info")).reply_text == "+OK log level info [6]"
    logging.getLogger("test.cli").warning("hello from the switch")
    for _ in range(50):
        if any("hello from the switch" in f.body for f in lines):
            break
        await asyncio.sleep(0.02)
    assert any("hello from the switch" in f.body and f.get("Log-Level") == "4" for f in lines)
    await client.close()


async def test_client_reports_a_wrong_password(served: tuple[Switch, EventSocketServer]) -> None:
    with pytest.raises(EslConnectError, match="authentication failed"):
        await EslClient().connect("127.0.0.1", served[1].address[1], "wrong")


# ---- the program --------------------------------------------------------------------------------


async def cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchcore.remote_console",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(ROOT),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_execute_exits_0_with_the_output(served: tuple[Switch, EventSocketServer]) -> None:
    port = str(served[1].address[1])
    code, out, _ = await cli("-P", port, "-x", "show channels")
    assert code == 0
    assert out.startswith("uuid,direction,created")
    assert out.rstrip().endswith("0 total.")
    code, out, _ = await cli("-P", port, "-x", "status")
    assert code == 0 and "is ready" in out


async def test_execute_exits_1_on_err_and_on_no_connection(served: tuple[Switch, EventSocketServer]) -> None:
    code, out, _ = await cli("-P", str(served[1].address[1]), "-x", "no_such_command")
    assert code == 1
    assert out == "-ERR no_such_command Command not found!\n"
    code, _, err = await cli("-P", "15599", "-x", "status", "-T", "1")
    assert code == 1
    assert "cannot connect" in err
    code, _, err = await cli("-P", str(served[1].address[1]), "-p", "wrong", "-x", "status")
    assert code == 1
    assert "authentication failed" in err


async def test_retry_waits_for_the_switch(tmp_path: Path) -> None:
    port = next_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchcore.remote_console", "-P", str(port), "-r", "-x", "version",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=str(ROOT),
    )
    await asyncio.sleep(1.5)
    sw = await minimal_switch(tmp_path)
    server = EventSocketServer(sw, EslSettings(listen_port=port))
    await server.start()
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, err.decode()
        assert out.decode().startswith("switchcore Version")
        assert "retrying" in err.decode()
    finally:
        await server.stop()
        await stop_switch(sw)


# ---- a real terminal ------------------------------------------------------------------------------


class Tmux:
    def __init__(self, name: str) -> None:
        self.name = name

    async def run(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec("tmux", *args, stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        return out.decode()

    async def keys(self, *keys: str) -> None:
        await self.run("send-keys", "-t", self.name, *keys)

    async def screen(self) -> str:
        return await self.run("capture-pane", "-t", self.name, "-p", "-S", "-200")

    async def wait_for(self, text: str, timeout: float = 10) -> str:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end:
            screen = await self.screen()
            if text in screen:
                return screen
            await asyncio.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared on screen:\n{await self.screen()}")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
async def test_console_in_a_terminal(served: tuple[Switch, EventSocketServer], tmp_path: Path) -> None:
    import logging

    sw, server = served
    tmux = Tmux(f"switchcore-cli-{uuidlib.uuid4().hex[:8]}")
    env = f"SWITCHCORE_CLI_HISTORY={tmp_path / 'history'} PYTHONPATH={ROOT}"
    command = f"cd {ROOT} && env {env} {sys.executable} -m switchcore.remote_console -P {server.address[1]} -l warning"
    await tmux.run("new-session", "-d", "-s", tmux.name, "-x", "200", "-y", "60", command)
    try:
        await tmux.wait_for("switchcore@127.0.0.1>")
        await tmux.keys("status", "Enter")
        await tmux.wait_for("is ready")
        # Tab completes a command name from `show api`.
        await tmux.keys("versi", "Tab")
        await tmux.wait_for("> version")
        await tmux.keys("Enter")
        await tmux.wait_for("switchcore Version")
        # F3 is `show channels`, drawn as a table.
        reply = await sw.api("originate loopback/9999 &park()")
        await tmux.keys("F3")
        screen = await tmux.wait_for("2 total.")
        assert "loopback/9999-a" in screen
        # /log debug shows the switch's log lines.
        await tmux.keys("/log debug", "Enter")
        await tmux.wait_for("+OK log level debug [7]")
        logging.getLogger("switchcore.test").debug("a debug line for the console")
        await tmux.wait_for("[DEBUG] test_remote_console.py")
        await sw.api(f"uuid_kill {reply.split()[1]}")
        await tmux.keys("/quit", "Enter")
    finally:
        await tmux.run("kill-session", "-t", tmux.name)
