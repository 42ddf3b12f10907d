"""Q.850 hangup causes with FreeSWITCH's names, and the SIP status mapping.

The numeric values are FreeSWITCH's `switch_call_cause_t` (Q.850 plus the
switch-specific 5xx/7xx/8xx range).  The SIP mapping is sofia_glue's
`sofia_glue_sip_cause_to_freeswitch` and its reverse `hangup_cause_to_sip`.
"""

from __future__ import annotations

from enum import IntEnum


class HangupCause(IntEnum):
    NONE = 0
    UNALLOCATED_NUMBER = 1
    NO_ROUTE_TRANSIT_NET = 2
    NO_ROUTE_DESTINATION = 3
    CHANNEL_UNACCEPTABLE = 6
    CALL_AWARDED_DELIVERED = 7
    NORMAL_CLEARING = 16
    USER_BUSY = 17
    NO_USER_RESPONSE = 18
    NO_ANSWER = 19
    SUBSCRIBER_ABSENT = 20
    CALL_REJECTED = 21
    NUMBER_CHANGED = 22
    REDIRECTION_TO_NEW_DESTINATION = 23
    EXCHANGE_ROUTING_ERROR = 25
    DESTINATION_OUT_OF_ORDER = 27
    INVALID_NUMBER_FORMAT = 28
    FACILITY_REJECTED = 29
    RESPONSE_TO_STATUS_ENQUIRY = 30
    NORMAL_UNSPECIFIED = 31
    NORMAL_CIRCUIT_CONGESTION = 34
    NETWORK_OUT_OF_ORDER = 38
    NORMAL_TEMPORARY_FAILURE = 41
    SWITCH_CONGESTION = 42
    ACCESS_INFO_DISCARDED = 43
    REQUESTED_CHAN_UNAVAIL = 44
    PRE_EMPTED = 45
    FACILITY_NOT_SUBSCRIBED = 50
    OUTGOING_CALL_BARRED = 52
    INCOMING_CALL_BARRED = 54
    BEARERCAPABILITY_NOTAUTH = 57
    BEARERCAPABILITY_NOTAVAIL = 58
    SERVICE_UNAVAILABLE = 63
    BEARERCAPABILITY_NOTIMPL = 65
    CHAN_NOT_IMPLEMENTED = 66
    FACILITY_NOT_IMPLEMENTED = 69
    SERVICE_NOT_IMPLEMENTED = 79
    INVALID_CALL_REFERENCE = 81
    INCOMPATIBLE_DESTINATION = 88
    INVALID_MSG_UNSPECIFIED = 95
    MANDATORY_IE_MISSING = 96
    MESSAGE_TYPE_NONEXIST = 97
    WRONG_MESSAGE = 98
    IE_NONEXIST = 99
    INVALID_IE_CONTENTS = 100
    WRONG_CALL_STATE = 101
    RECOVERY_ON_TIMER_EXPIRE = 102
    MANDATORY_IE_LENGTH_ERROR = 103
    PROTOCOL_ERROR = 111
    INTERWORKING = 127
    SUCCESS = 142
    ORIGINATOR_CANCEL = 487
    CRASH = 700
    SYSTEM_SHUTDOWN = 701
    LOSE_RACE = 702
    MANAGER_REQUEST = 703
    BLIND_TRANSFER = 800
    ATTENDED_TRANSFER = 801
    ALLOTTED_TIMEOUT = 802
    USER_CHALLENGE = 803
    MEDIA_TIMEOUT = 804
    PICKED_OFF = 805
    USER_NOT_REGISTERED = 806
    PROGRESS_TIMEOUT = 807
    INVALID_GATEWAY = 808
    GATEWAY_DOWN = 809
    INVALID_URL = 810
    INVALID_PROFILE = 811
    NO_PICKUP = 812
    SRTP_READ_ERROR = 813

    @classmethod
    def parse(cls, text: str, default: HangupCause | None = None) -> HangupCause:
        """A cause from its name (any case) or its number; `default` (or NORMAL_CLEARING) otherwise."""
        text = text.strip()
        if text.isdigit():
            try:
                return cls(int(text))
            except ValueError:
                pass
        try:
            return cls[text.upper()]
        except KeyError:
            return default if default is not None else cls.NORMAL_CLEARING


# sofia_glue_sip_cause_to_freeswitch: the SIP final status a far end sent -> the cause we record.
_SIP_TO_CAUSE: dict[int, HangupCause] = {
    200: HangupCause.NORMAL_CLEARING,
    401: HangupCause.CALL_REJECTED,
    402: HangupCause.CALL_REJECTED,
    403: HangupCause.CALL_REJECTED,
    407: HangupCause.CALL_REJECTED,
    603: HangupCause.CALL_REJECTED,
    404: HangupCause.UNALLOCATED_NUMBER,
    485: HangupCause.NO_ROUTE_DESTINATION,
    604: HangupCause.NO_ROUTE_DESTINATION,
    408: HangupCause.RECOVERY_ON_TIMER_EXPIRE,
    504: HangupCause.RECOVERY_ON_TIMER_EXPIRE,
    410: HangupCause.NUMBER_CHANGED,
    413: HangupCause.INTERWORKING,
    414: HangupCause.INTERWORKING,
    416: HangupCause.INTERWORKING,
    420: HangupCause.INTERWORKING,
    421: HangupCause.INTERWORKING,
    423: HangupCause.INTERWORKING,
    505: HangupCause.INTERWORKING,
    513: HangupCause.INTERWORKING,
    480: HangupCause.NO_USER_RESPONSE,
    400: HangupCause.NORMAL_TEMPORARY_FAILURE,
    481: HangupCause.NORMAL_TEMPORARY_FAILURE,
    500: HangupCause.NORMAL_TEMPORARY_FAILURE,
    503: HangupCause.NORMAL_TEMPORARY_FAILURE,
    486: HangupCause.USER_BUSY,
    600: HangupCause.USER_BUSY,
    484: HangupCause.INVALID_NUMBER_FORMAT,
    488: HangupCause.INCOMPATIBLE_DESTINATION,
    606: HangupCause.INCOMPATIBLE_DESTINATION,
    502: HangupCause.NETWORK_OUT_OF_ORDER,
    405: HangupCause.SERVICE_UNAVAILABLE,
    406: HangupCause.SERVICE_NOT_IMPLEMENTED,
    415: HangupCause.SERVICE_NOT_IMPLEMENTED,
    501: HangupCause.SERVICE_NOT_IMPLEMENTED,
    482: HangupCause.EXCHANGE_ROUTING_ERROR,
    483: HangupCause.EXCHANGE_ROUTING_ERROR,
    487: HangupCause.ORIGINATOR_CANCEL,
}

# hangup_cause_to_sip: the cause of our leg -> the SIP status we answer an unanswered INVITE with.
_CAUSE_TO_SIP: dict[HangupCause, int] = {
    HangupCause.UNALLOCATED_NUMBER: 404,
    HangupCause.NO_ROUTE_TRANSIT_NET: 404,
    HangupCause.NO_ROUTE_DESTINATION: 404,
    HangupCause.CHANNEL_UNACCEPTABLE: 406,
    HangupCause.USER_BUSY: 486,
    HangupCause.NO_USER_RESPONSE: 408,
    HangupCause.NO_ANSWER: 480,
    HangupCause.SUBSCRIBER_ABSENT: 480,
    HangupCause.USER_NOT_REGISTERED: 480,
    HangupCause.CALL_REJECTED: 603,
    HangupCause.NUMBER_CHANGED: 410,
    HangupCause.REDIRECTION_TO_NEW_DESTINATION: 410,
    HangupCause.DESTINATION_OUT_OF_ORDER: 502,
    HangupCause.INVALID_NUMBER_FORMAT: 484,
    HangupCause.FACILITY_REJECTED: 501,
    HangupCause.NORMAL_UNSPECIFIED: 480,
    HangupCause.NORMAL_CIRCUIT_CONGESTION: 503,
    HangupCause.NORMAL_TEMPORARY_FAILURE: 503,
    HangupCause.SWITCH_CONGESTION: 503,
    HangupCause.REQUESTED_CHAN_UNAVAIL: 503,
    HangupCause.SERVICE_UNAVAILABLE: 503,
    HangupCause.NETWORK_OUT_OF_ORDER: 502,
    HangupCause.GATEWAY_DOWN: 502,
    HangupCause.FACILITY_NOT_SUBSCRIBED: 503,
    HangupCause.OUTGOING_CALL_BARRED: 403,
    HangupCause.INCOMING_CALL_BARRED: 403,
    HangupCause.BEARERCAPABILITY_NOTAUTH: 403,
    HangupCause.BEARERCAPABILITY_NOTAVAIL: 488,
    HangupCause.INCOMPATIBLE_DESTINATION: 488,
    HangupCause.BEARERCAPABILITY_NOTIMPL: 501,
    HangupCause.CHAN_NOT_IMPLEMENTED: 501,
    HangupCause.FACILITY_NOT_IMPLEMENTED: 501,
    HangupCause.SERVICE_NOT_IMPLEMENTED: 501,
    HangupCause.RECOVERY_ON_TIMER_EXPIRE: 504,
    HangupCause.PROGRESS_TIMEOUT: 504,
    HangupCause.MEDIA_TIMEOUT: 504,
    HangupCause.ORIGINATOR_CANCEL: 487,
    HangupCause.EXCHANGE_ROUTING_ERROR: 483,
    HangupCause.LOSE_RACE: 487,
    HangupCause.PICKED_OFF: 487,
    HangupCause.SYSTEM_SHUTDOWN: 503,
    HangupCause.INTERWORKING: 500,
}


def cause_from_sip(status: int) -> HangupCause:
    """The cause a SIP final status maps to (FreeSWITCH's table; unknown 4xx-6xx → NORMAL_UNSPECIFIED)."""
    if status in _SIP_TO_CAUSE:
        return _SIP_TO_CAUSE[status]
    if status >= 600:
        return HangupCause.CALL_REJECTED
    return HangupCause.NORMAL_UNSPECIFIED if status >= 400 else HangupCause.NORMAL_CLEARING


def sip_from_cause(cause: HangupCause) -> int:
    """The SIP status to reject an unanswered call with for this cause (default 480, as sofia)."""
    return _CAUSE_TO_SIP.get(cause, 480)
