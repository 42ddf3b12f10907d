"""Log lines for clients: records become FreeSWITCH log nodes; the console keeps its own level."""

from __future__ import annotations

import asyncio
import logging

from modules.mod_event_socket.loghandler import LogFanout, log_line
from switchcore.eslwire import LogLine

CALL = "0d3d9fd4-7b3a-4c8c-9a35-3a8f3a3a0e11"


def test_a_record_becomes_a_log_node_with_the_calls_uuid() -> None:
    record = logging.LogRecord("switchcore.session", logging.WARNING, "/x/session.py", 12, "[%s] oops", (CALL,), None)
    line = log_line(record)
    assert line.level == 4
    assert line.user_data == CALL
    assert line.channel == 3
    assert f"[WARNING] session.py:12 [{CALL}] oops\n" in line.data


async def test_asking_for_debug_lowers_python_logging_but_not_the_console() -> None:
    root = logging.getLogger()
    console = logging.StreamHandler()
    saved = root.level
    root.addHandler(console)
    root.setLevel(logging.INFO)
    got: list[LogLine] = []
    fanout = LogFanout(got.append, asyncio.get_running_loop())
    fanout.install()
    try:
        fanout.need(7)
        assert root.level == logging.DEBUG
        assert console.level == logging.INFO
        logging.getLogger("test.fanout").debug("deep detail")
        assert any("deep detail" in line.data for line in got)
        fanout.need(None)
        assert root.level == logging.INFO
        assert console.level == logging.NOTSET
    finally:
        fanout.uninstall()
        root.removeHandler(console)
        root.setLevel(saved)
