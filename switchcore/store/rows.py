"""Records <-> table rows: the only place that knows both the dataclasses and the columns."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import RowMapping, Table

from ..causes import HangupCause
from ..states import CallState, ChannelState
from .models import Base
from .records import CdrRecord, ChannelRecord, MediaQuality, RegistrationRecord

CDRS: Table = Base.metadata.tables["cdrs"]
REGISTRATIONS: Table = Base.metadata.tables["registrations"]
LIVE_CHANNELS: Table = Base.metadata.tables["live_channels"]

REGISTRATION_KEY = ("profile", "user", "realm", "contact")


def cdr_values(cdr: CdrRecord) -> dict[str, Any]:
    q = cdr.quality
    return {
        "uuid": cdr.uuid,
        "call_uuid": cdr.call_uuid,
        "bleg_uuid": cdr.bleg_uuid,
        "direction": cdr.direction,
        "channel_name": cdr.channel_name,
        "caller_id_name": cdr.caller_id_name,
        "caller_id_number": cdr.caller_id_number,
        "destination_number": cdr.destination_number,
        "context": cdr.context,
        "node": cdr.node,
        "start_stamp": cdr.start,
        "answer_stamp": cdr.answer,
        "end_stamp": cdr.end,
        "duration": cdr.duration,
        "billsec": cdr.billsec,
        "hangup_cause": cdr.hangup_cause.name,
        "hangup_cause_q850": int(cdr.hangup_cause),
        "sip_status": cdr.sip_status,
        "endpoint_disposition": cdr.endpoint_disposition,
        "read_codec": cdr.read_codec,
        "write_codec": cdr.write_codec,
        "packets_in": q.packets_in,
        "packets_out": q.packets_out,
        "packets_lost": q.packets_lost,
        "jitter_ms": q.jitter_ms,
        "mos": q.mos,
        "plc_frames": q.plc_frames,
        "fec_frames": q.fec_frames,
        # default=str: a stray non-string variable must not cost the CDR.
        "variables": json.dumps(dict(cdr.variables), sort_keys=True, ensure_ascii=False, default=str),
    }


def _cause(name: str, code: int) -> HangupCause:
    if name in HangupCause.__members__:
        return HangupCause[name]
    try:
        return HangupCause(code)
    except ValueError:
        return HangupCause.NONE


def cdr_record(row: RowMapping) -> CdrRecord:
    return CdrRecord(
        id=row["id"],
        uuid=row["uuid"],
        call_uuid=row["call_uuid"],
        bleg_uuid=row["bleg_uuid"],
        direction=row["direction"],
        channel_name=row["channel_name"],
        caller_id_name=row["caller_id_name"],
        caller_id_number=row["caller_id_number"],
        destination_number=row["destination_number"],
        context=row["context"],
        node=row["node"],
        start=row["start_stamp"],
        answer=row["answer_stamp"],
        end=row["end_stamp"],
        hangup_cause=_cause(row["hangup_cause"], row["hangup_cause_q850"]),
        sip_status=row["sip_status"],
        endpoint_disposition=row["endpoint_disposition"],
        read_codec=row["read_codec"],
        write_codec=row["write_codec"],
        quality=MediaQuality(
            packets_in=row["packets_in"],
            packets_out=row["packets_out"],
            packets_lost=row["packets_lost"],
            jitter_ms=row["jitter_ms"],
            mos=row["mos"],
            plc_frames=row["plc_frames"],
            fec_frames=row["fec_frames"],
        ),
        variables=json.loads(row["variables"]),
    )


def reg_values(reg: RegistrationRecord) -> dict[str, Any]:
    return {
        "profile": reg.profile,
        "user": reg.user,
        "realm": reg.realm,
        "contact": reg.contact,
        "call_id": reg.call_id,
        "expires_at": reg.expires_at,
        "network_ip": reg.network_ip,
        "network_port": reg.network_port,
        "transport": reg.transport,
        "user_agent": reg.user_agent,
        "received": reg.received,
        "nat": reg.nat,
        "node": reg.node,
    }


def reg_record(row: RowMapping) -> RegistrationRecord:
    return RegistrationRecord(
        profile=row["profile"],
        user=row["user"],
        realm=row["realm"],
        contact=row["contact"],
        call_id=row["call_id"],
        expires_at=row["expires_at"],
        network_ip=row["network_ip"],
        network_port=row["network_port"],
        transport=row["transport"],
        user_agent=row["user_agent"],
        received=row["received"],
        nat=row["nat"],
        node=row["node"],
    )


def reg_sort_key(reg: RegistrationRecord) -> tuple[str, str, str, str]:
    return (reg.profile, reg.realm, reg.user, reg.contact)


def channel_values(ch: ChannelRecord) -> dict[str, Any]:
    return {
        "uuid": ch.uuid,
        "direction": ch.direction,
        "name": ch.name,
        "state": ch.state.value,
        "callstate": ch.callstate.value,
        "created": ch.created,
        "cid_name": ch.cid_name,
        "cid_num": ch.cid_num,
        "ip_addr": ch.ip_addr,
        "dest": ch.dest,
        "context": ch.context,
        "application": ch.application,
        "application_data": ch.application_data,
        "read_codec": ch.read_codec,
        "write_codec": ch.write_codec,
        "call_uuid": ch.call_uuid,
        "node": ch.node,
    }


def channel_record(row: RowMapping) -> ChannelRecord:
    return ChannelRecord(
        uuid=row["uuid"],
        direction=row["direction"],
        name=row["name"],
        state=ChannelState(row["state"]),
        callstate=CallState(row["callstate"]),
        created=row["created"],
        cid_name=row["cid_name"],
        cid_num=row["cid_num"],
        ip_addr=row["ip_addr"],
        dest=row["dest"],
        context=row["context"],
        application=row["application"],
        application_data=row["application_data"],
        read_codec=row["read_codec"],
        write_codec=row["write_codec"],
        call_uuid=row["call_uuid"],
        node=row["node"],
    )
