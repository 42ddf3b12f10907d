"""Run as a separate process: a greenswitch OutboundESLServer (call control written for FreeSWITCH)
that answers each call, plays a short silence and hangs up, printing the call's uuid."""

from __future__ import annotations

import sys

import gevent
from greenswitch.esl import OutboundESLServer


class Answerer:
    def __init__(self, session: object) -> None:
        self.session = session

    def run(self) -> None:
        session = self.session
        session.myevents()  # type: ignore[attr-defined]
        session.answer()  # type: ignore[attr-defined]
        session.playback("silence_stream://200", block=False)  # type: ignore[attr-defined]
        session.hangup()  # type: ignore[attr-defined]
        print(f"handled {session.uuid} {session.caller_id_number}", flush=True)  # type: ignore[attr-defined]
        gevent.sleep(0.2)


if __name__ == "__main__":
    server = OutboundESLServer(bind_address="127.0.0.1", bind_port=int(sys.argv[1]), application=Answerer)
    print("listening", flush=True)
    server.listen()
