"""Channel states and call states, with the transition table.

Theory of operation: a channel moves through FreeSWITCH's CS_* states.  An
inbound leg goes NEW -> INIT -> ROUTING (dialplan hunt) -> EXECUTE (app list)
and ends HANGUP -> REPORTING (CDR written) -> DESTROY.  A bridge puts both legs
in EXCHANGE_MEDIA, `park` puts a leg in PARK, an originated B-leg waits in
CONSUME_MEDIA until it is bridged or given an application.  `transfer`
re-enters ROUTING.  Any live state may go to HANGUP.  Every transition not in
`CHANNEL_TRANSITIONS` raises `InvalidTransition`.

The call state (CHANNEL_CALLSTATE) is separate and follows signalling:
DOWN -> DIALING/RINGING -> EARLY -> ACTIVE <-> HELD -> HANGUP.
"""

from __future__ import annotations

from enum import Enum

from .errors import InvalidTransition


class ChannelState(Enum):
    NEW = "CS_NEW"
    INIT = "CS_INIT"
    ROUTING = "CS_ROUTING"
    SOFT_EXECUTE = "CS_SOFT_EXECUTE"
    EXECUTE = "CS_EXECUTE"
    EXCHANGE_MEDIA = "CS_EXCHANGE_MEDIA"
    PARK = "CS_PARK"
    CONSUME_MEDIA = "CS_CONSUME_MEDIA"
    HIBERNATE = "CS_HIBERNATE"
    RESET = "CS_RESET"
    HANGUP = "CS_HANGUP"
    REPORTING = "CS_REPORTING"
    DESTROY = "CS_DESTROY"


class CallState(Enum):
    DOWN = "DOWN"
    DIALING = "DIALING"
    RINGING = "RINGING"
    EARLY = "EARLY"
    ACTIVE = "ACTIVE"
    HELD = "HELD"
    RING_WAIT = "RING_WAIT"
    HANGUP = "HANGUP"
    UNHELD = "UNHELD"


CS = ChannelState
_LIVE = (CS.INIT, CS.ROUTING, CS.EXECUTE, CS.EXCHANGE_MEDIA, CS.PARK, CS.CONSUME_MEDIA, CS.SOFT_EXECUTE)

CHANNEL_TRANSITIONS: frozenset[tuple[ChannelState, ChannelState]] = frozenset(
    {
        (CS.NEW, CS.INIT),
        (CS.NEW, CS.HANGUP),
        (CS.INIT, CS.ROUTING),
        (CS.INIT, CS.CONSUME_MEDIA),  # an originated leg waits for its bridge
        (CS.ROUTING, CS.EXECUTE),
        (CS.ROUTING, CS.ROUTING),  # transfer during the hunt
        (CS.EXECUTE, CS.ROUTING),  # transfer
        (CS.EXECUTE, CS.EXCHANGE_MEDIA),
        (CS.EXECUTE, CS.PARK),
        (CS.EXECUTE, CS.EXECUTE),
        (CS.EXCHANGE_MEDIA, CS.EXECUTE),
        (CS.EXCHANGE_MEDIA, CS.ROUTING),
        (CS.EXCHANGE_MEDIA, CS.PARK),
        (CS.PARK, CS.EXECUTE),
        (CS.PARK, CS.EXCHANGE_MEDIA),
        (CS.PARK, CS.ROUTING),
        (CS.CONSUME_MEDIA, CS.EXCHANGE_MEDIA),
        (CS.CONSUME_MEDIA, CS.EXECUTE),
        (CS.CONSUME_MEDIA, CS.ROUTING),
        (CS.CONSUME_MEDIA, CS.PARK),
        (CS.SOFT_EXECUTE, CS.EXECUTE),
        (CS.HANGUP, CS.REPORTING),
        (CS.REPORTING, CS.DESTROY),
    }
    | {(s, CS.HANGUP) for s in _LIVE}
)

CALL_TRANSITIONS: frozenset[tuple[CallState, CallState]] = frozenset(
    {
        (CallState.DOWN, CallState.DIALING),
        (CallState.DOWN, CallState.RINGING),
        (CallState.DOWN, CallState.EARLY),
        (CallState.DOWN, CallState.ACTIVE),
        (CallState.DIALING, CallState.RINGING),
        (CallState.DIALING, CallState.EARLY),
        (CallState.DIALING, CallState.ACTIVE),
        (CallState.RINGING, CallState.EARLY),
        (CallState.RINGING, CallState.ACTIVE),
        (CallState.EARLY, CallState.RINGING),
        (CallState.EARLY, CallState.ACTIVE),
        (CallState.ACTIVE, CallState.HELD),
        (CallState.HELD, CallState.ACTIVE),
        (CallState.HELD, CallState.UNHELD),
        (CallState.UNHELD, CallState.ACTIVE),
        (CallState.UNHELD, CallState.HELD),
    }
    | {(s, CallState.HANGUP) for s in CallState if s is not CallState.HANGUP}
)


def check_channel_transition(old: ChannelState, new: ChannelState) -> None:
    if (old, new) not in CHANNEL_TRANSITIONS:
        raise InvalidTransition(f"channel state {old.value} -> {new.value} is not allowed")


def check_call_transition(old: CallState, new: CallState) -> None:
    if (old, new) not in CALL_TRANSITIONS:
        raise InvalidTransition(f"call state {old.value} -> {new.value} is not allowed")
