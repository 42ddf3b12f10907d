import pytest

from switchcore.causes import HangupCause, cause_from_sip, sip_from_cause


@pytest.mark.parametrize(
    "status,cause",
    [
        (404, "UNALLOCATED_NUMBER"),
        (486, "USER_BUSY"),
        (600, "USER_BUSY"),
        (480, "NO_USER_RESPONSE"),
        (403, "CALL_REJECTED"),
        (603, "CALL_REJECTED"),
        (408, "RECOVERY_ON_TIMER_EXPIRE"),
        (504, "RECOVERY_ON_TIMER_EXPIRE"),
        (488, "INCOMPATIBLE_DESTINATION"),
        (606, "INCOMPATIBLE_DESTINATION"),
        (484, "INVALID_NUMBER_FORMAT"),
        (400, "NORMAL_TEMPORARY_FAILURE"),
        (481, "NORMAL_TEMPORARY_FAILURE"),
        (500, "NORMAL_TEMPORARY_FAILURE"),
        (503, "NORMAL_TEMPORARY_FAILURE"),
        (487, "ORIGINATOR_CANCEL"),
    ],
)
def test_sip_status_maps_to_freeswitch_cause(status, cause):
    assert cause_from_sip(status).name == cause


@pytest.mark.parametrize(
    "cause,status",
    [
        (HangupCause.USER_BUSY, 486),
        (HangupCause.NO_ROUTE_DESTINATION, 404),
        (HangupCause.UNALLOCATED_NUMBER, 404),
        (HangupCause.NO_ANSWER, 480),
        (HangupCause.USER_NOT_REGISTERED, 480),
        (HangupCause.CALL_REJECTED, 603),
        (HangupCause.ORIGINATOR_CANCEL, 487),
        (HangupCause.INCOMPATIBLE_DESTINATION, 488),
        (HangupCause.RECOVERY_ON_TIMER_EXPIRE, 504),
    ],
)
def test_cause_maps_back_to_sip_status(cause, status):
    assert sip_from_cause(cause) == status


def test_q850_codes_and_switch_specific_codes_match_freeswitch():
    assert HangupCause.NORMAL_CLEARING == 16
    assert HangupCause.NO_ROUTE_DESTINATION == 3
    assert HangupCause.SYSTEM_SHUTDOWN == 701
    assert HangupCause.LOSE_RACE == 702
    assert HangupCause.USER_NOT_REGISTERED == 806
    assert HangupCause.GATEWAY_DOWN == 809


def test_parse_accepts_names_numbers_and_falls_back():
    assert HangupCause.parse("user_busy") is HangupCause.USER_BUSY
    assert HangupCause.parse("17") is HangupCause.USER_BUSY
    assert HangupCause.parse("nonsense") is HangupCause.NORMAL_CLEARING
