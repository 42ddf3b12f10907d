import itertools

import pytest

from switchcore.errors import InvalidTransition
from switchcore.states import (
    CALL_TRANSITIONS,
    CHANNEL_TRANSITIONS,
    CallState,
    ChannelState,
    check_call_transition,
    check_channel_transition,
)

CS = ChannelState


def test_inbound_path_is_allowed():
    path = [CS.NEW, CS.INIT, CS.ROUTING, CS.EXECUTE, CS.HANGUP, CS.REPORTING, CS.DESTROY]
    for old, new in itertools.pairwise(path):
        check_channel_transition(old, new)


def test_bridge_park_and_transfer_paths_are_allowed():
    for old, new in [
        (CS.EXECUTE, CS.EXCHANGE_MEDIA),
        (CS.EXCHANGE_MEDIA, CS.EXECUTE),
        (CS.EXECUTE, CS.PARK),
        (CS.PARK, CS.EXECUTE),
        (CS.EXECUTE, CS.ROUTING),
        (CS.INIT, CS.CONSUME_MEDIA),
        (CS.CONSUME_MEDIA, CS.EXCHANGE_MEDIA),
    ]:
        check_channel_transition(old, new)


@pytest.mark.parametrize(
    "old,new",
    [pair for pair in itertools.product(CS, CS) if pair not in CHANNEL_TRANSITIONS],
)
def test_every_illegal_channel_transition_raises(old, new):
    with pytest.raises(InvalidTransition, match=f"{old.value} -> {new.value}"):
        check_channel_transition(old, new)


@pytest.mark.parametrize(
    "old,new",
    [pair for pair in itertools.product(CallState, CallState) if pair not in CALL_TRANSITIONS],
)
def test_every_illegal_call_transition_raises(old, new):
    with pytest.raises(InvalidTransition):
        check_call_transition(old, new)


def test_nothing_leaves_destroy_and_hangup_only_goes_to_reporting():
    assert not any(old is CS.DESTROY for old, _ in CHANNEL_TRANSITIONS)
    assert {new for old, new in CHANNEL_TRANSITIONS if old is CS.HANGUP} == {CS.REPORTING}
