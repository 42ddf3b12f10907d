"""Run as a separate process (gevent does not share a thread with asyncio): drive the switch
with greenswitch, an ESL client library from PyPI, and print what it saw as one JSON line."""

from __future__ import annotations

import json
import sys

import gevent
import greenswitch


def main(port: int) -> None:
    seen: dict[str, object] = {"created": [], "completed": []}
    esl = greenswitch.InboundESL(host="127.0.0.1", port=port, password="ClueCon")
    esl.connect()
    seen["status"] = esl.send("api status").data
    esl.register_handle("CHANNEL_CREATE", lambda e: seen["created"].append(e.headers["Unique-ID"]))  # type: ignore[union-attr]
    esl.register_handle(
        "CHANNEL_HANGUP_COMPLETE", lambda e: seen["completed"].append(e.headers["Unique-ID"])  # type: ignore[union-attr]
    )
    seen["subscribe"] = esl.send("event plain CHANNEL_CREATE CHANNEL_HANGUP_COMPLETE").data
    reply = esl.send("api originate loopback/9999 &park()").data
    uuid = reply.split()[1].strip()
    seen["uuid"] = uuid
    seen["kill"] = esl.send(f"api uuid_kill {uuid}").data
    with gevent.Timeout(10, False):
        while uuid not in seen["completed"]:  # type: ignore[operator]
            gevent.sleep(0.05)
    esl.stop()
    print(json.dumps(seen))


if __name__ == "__main__":
    main(int(sys.argv[1]))
