"""`bridge`: originate the dial string and bridge the first leg that answers to this channel."""

from __future__ import annotations

import logging

from switchcore.bridge import bridge
from switchcore.causes import HangupCause
from switchcore.originate import originate, relay_early_media
from switchcore.session import Session

from .declaration import module

log = logging.getLogger("mod_dptools")

# FreeSWITCH's DIALSTATUS values (Asterisk-compatible) by cause.
DIALSTATUS = {
    HangupCause.USER_BUSY: "BUSY",
    HangupCause.NO_ANSWER: "NOANSWER",
    HangupCause.NO_USER_RESPONSE: "NOANSWER",
    HangupCause.ORIGINATOR_CANCEL: "CANCEL",
    HangupCause.USER_NOT_REGISTERED: "CHANUNAVAIL",
    HangupCause.SUBSCRIBER_ABSENT: "CHANUNAVAIL",
    HangupCause.CALL_REJECTED: "BUSY",
    HangupCause.NORMAL_CIRCUIT_CONGESTION: "CONGESTION",
    HangupCause.SWITCH_CONGESTION: "CONGESTION",
}


def continue_on_fail(session: Session, cause: HangupCause) -> bool:
    """`continue_on_fail=true`, or a list of cause names / Q.850 numbers that let the dialplan go on."""
    value = (session.get_var("continue_on_fail") or "").strip()
    if not value:
        return False
    if value.lower() in ("true", "yes", "on", "1"):
        return True
    for item in value.split(","):
        item = item.strip()
        if item.upper() == cause.name or (item.isdigit() and int(item) == int(cause)):
            return True
    return False


@module.application("bridge", "Bridge the audio between two sessions", "<channel_url>")
async def bridge_app(session: Session, arg: str) -> None:
    if not arg.strip():
        log.error("[%s] bridge: no dial string", session.uuid)
        return

    async def early(b: Session) -> None:
        await relay_early_media(session, b)

    result = await originate(session.switch, arg, originator=session, on_early_media=early)
    if result.session is None:
        cause = result.cause
        session.set_var("originate_disposition", cause.name)
        session.set_var("originate_failed_cause", cause.name)
        session.set_var("DIALSTATUS", DIALSTATUS.get(cause, "CHANUNAVAIL"))
        log.info("[%s] bridge to %s failed: %s", session.uuid, arg, cause.name)
        if session.hungup or continue_on_fail(session, cause):
            return
        session.hangup(cause)
        return
    b = result.session
    session.set_var("originate_disposition", "SUCCESS")
    session.set_var("DIALSTATUS", "SUCCESS")
    try:
        if not session.answered:
            await session.answer()
        await bridge(session, b)
    finally:
        if not b.hungup and not b.transferred_out:
            b.hangup(HangupCause.NORMAL_CLEARING)
    if session.hungup:
        return
    if b.transferred_out:
        # The far leg was transferred away (REFER, uuid_transfer -bleg): as after its hangup.
        session.set_var("last_bridge_hangup_cause", "BLIND_TRANSFER")
    if not b.transferred_out:
        session.set_var("last_bridge_hangup_cause", b.cause.name)
        session.set_var("bridge_hangup_cause", b.cause.name)
    if session.var_true("hangup_after_bridge"):
        session.hangup(HangupCause.NORMAL_CLEARING)
    elif session.var_true("park_after_bridge"):
        await session.execute("park", "")
    elif transfer := session.get_var("transfer_after_bridge"):
        session.transfer(*transfer.split(":")[:1])
