"""The loopback endpoint and its channel driver."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from switchcore.causes import HangupCause
from switchcore.media.frame import Frame
from switchcore.module import Module, OutgoingRequest
from switchcore.profile import CallerProfile
from switchcore.session import Session

if TYPE_CHECKING:
    from switchcore.core import Switch

module = Module("mod_loopback", "Loopback endpoint: two channels joined back to back")

QUEUE_FRAMES = 8  # about 160 ms: a slow reader loses the oldest audio, never grows a queue


_SILENCE: dict[int, Frame] = {}


def _silence(rate: int) -> Frame:
    """One shared silent frame per rate (frames are immutable)."""
    frame = _SILENCE.get(rate)
    if frame is None:
        frame = _SILENCE[rate] = Frame.silence(rate)
        frame.samples.flags.writeable = False
    return frame


class LoopbackDriver:
    """One half of a loopback pair; `read_frame` is paced by the switch's media clock."""

    read_codec = "L16"
    write_codec = "L16"

    def __init__(self, switch: Switch, rate: int) -> None:
        self.switch = switch
        self.rate = rate
        self.inbox: deque[Frame] = deque(maxlen=QUEUE_FRAMES)
        self.other: LoopbackDriver | None = None
        self.session: Session | None = None
        self._silence = _silence(rate)

    async def read_frame(self) -> Frame:
        await self.switch.clock.tick()
        if self.inbox:
            return self.inbox.popleft()
        return self._silence

    async def write_frame(self, frame: Frame) -> None:
        other = self.other
        if other is not None:
            other.inbox.append(frame)

    def _peer(self) -> Session | None:
        return self.other.session if self.other is not None else None

    async def answer(self) -> None:
        peer = self._peer()
        if peer is not None:
            peer.mark_answered()

    async def pre_answer(self) -> None:
        peer = self._peer()
        if peer is not None:
            peer.mark_early_media()

    async def ring_ready(self) -> None:
        peer = self._peer()
        if peer is not None:
            peer.mark_ringing()

    async def send_dtmf(self, digits: str, duration_ms: int) -> None:
        peer = self._peer()
        if peer is not None:
            for digit in digits:
                peer.queue_dtmf(digit, "INBAND_AUDIO", duration_ms)

    async def hangup(self, cause: HangupCause) -> None:
        peer = self._peer()
        if peer is not None:
            peer.hangup(cause)


class LoopbackEndpoint:
    name = "loopback"

    def __init__(self) -> None:
        self.switch: Switch | None = None

    async def outgoing(self, request: OutgoingRequest) -> Session:
        switch = self.switch
        assert switch is not None, "mod_loopback is not loaded"
        parts = request.dest.split("/")
        dest = parts[0]
        context = parts[1] if len(parts) > 1 and parts[1] else "default"
        dialplan = parts[2] if len(parts) > 2 and parts[2] else "XML"
        origin = request.originator
        rate = int(request.variables.get("loopback_rate") or (origin.rate if origin is not None else 8000))
        a_driver, b_driver = LoopbackDriver(switch, rate), LoopbackDriver(switch, rate)
        a_driver.other, b_driver.other = b_driver, a_driver
        cid_name = request.variables.get("origination_caller_id_name") or (
            origin.profile.caller_id_name if origin is not None else "switchcore"
        )
        cid_num = request.variables.get("origination_caller_id_number") or (
            origin.profile.caller_id_number if origin is not None else "0000000000"
        )
        a = Session(
            switch,
            a_driver,
            f"loopback/{dest}-a",
            "outbound",
            CallerProfile(caller_id_name=cid_name, caller_id_number=cid_num, destination_number=dest,
                          context=context, dialplan=dialplan, source="mod_loopback"),
            dict(request.variables),
            uuid=request.variables.get("origination_uuid"),
            module=module.name,
        )
        b = Session(
            switch,
            b_driver,
            f"loopback/{dest}-b",
            "inbound",
            CallerProfile(caller_id_name=cid_name, caller_id_number=cid_num, destination_number=dest,
                          context=context, dialplan=dialplan, source="mod_loopback", ani=cid_num),
            {k: v for k, v in request.variables.items() if k != "origination_uuid"},
            module=module.name,
        )
        a_driver.session, b_driver.session = a, b
        a.variables["other_loopback_leg_uuid"] = b.uuid
        b.variables["other_loopback_leg_uuid"] = a.uuid
        a.start()
        b.start()
        return a


endpoint = LoopbackEndpoint()
module.add_endpoint(endpoint)


@module.loaded
async def _load(switch: Switch) -> None:
    endpoint.switch = switch
