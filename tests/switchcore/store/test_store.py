"""The data-access layer: CDR round trip, registrations with expiry, live channels, restarts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from switchcore.causes import HangupCause
from switchcore.states import CallState, ChannelState
from switchcore.store import (
    CdrRecord,
    ChannelRecord,
    MediaQuality,
    NaiveTimestamp,
    RegistrationRecord,
    Store,
    StoreError,
    StoreNotOpen,
    default_url,
)

MakeCdr = Callable[..., CdrRecord]
MakeReg = Callable[..., RegistrationRecord]


# -- CDRs ---------------------------------------------------------------------------


def test_cdr_round_trip_keeps_every_field(store: Store, make_cdr: MakeCdr, t0: datetime) -> None:
    cdr = make_cdr(
        uuid="8d1c2f7e-0000-4000-8000-000000000001",
        call_uuid="8d1c2f7e-0000-4000-8000-000000000001",
        bleg_uuid="8d1c2f7e-0000-4000-8000-000000000002",
        channel_name="sofia/internal/1000@example.test",
        caller_id_name="Alice Ünicode",
        caller_id_number="1000",
        destination_number="1001",
        context="default",
        node="node-a",
        hangup_cause=HangupCause.ORIGINATOR_CANCEL,
        sip_status=487,
        endpoint_disposition="ANSWER",
        read_codec="PCMU",
        write_codec="opus",
        quality=MediaQuality(
            packets_in=3050,
            packets_out=3049,
            packets_lost=7,
            jitter_ms=3.25,
            mos=4.38,
            plc_frames=5,
            fec_frames=2,
        ),
        variables={"sip_from_user": "1000", "hangup_after_bridge": "true"},
    )
    assert store.write_cdr(cdr) is True
    [back] = store.cdrs(limit=10)
    assert back.id is not None
    assert back == CdrRecord(**{**_fields(cdr), "id": back.id})
    assert back.start == t0  # microseconds survive
    assert back.start.tzinfo is UTC


def _fields(cdr: CdrRecord) -> dict[str, object]:
    return {name: getattr(cdr, name) for name in cdr.__dataclass_fields__}


def test_cdr_row_carries_duration_billsec_and_q850(store: Store, make_cdr: MakeCdr) -> None:
    store.write_cdr(make_cdr(hangup_cause=HangupCause.USER_BUSY))
    store.write_cdr(make_cdr(uuid="leg-unanswered", answer=None, hangup_cause=HangupCause.NO_ANSWER))
    with store.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT uuid, duration, billsec, hangup_cause, hangup_cause_q850 FROM cdrs ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [
        ("leg-a", 62, 60, "USER_BUSY", 17),
        ("leg-unanswered", 62, 0, "NO_ANSWER", 19),
    ]


def test_cdr_times_given_in_another_zone_come_back_as_the_same_instant_in_utc(
    store: Store, make_cdr: MakeCdr, t0: datetime
) -> None:
    paris = timezone(timedelta(hours=1))
    store.write_cdr(make_cdr(start=t0.astimezone(paris)))
    [back] = store.cdrs()
    assert back.start == t0
    assert back.start.utcoffset() == timedelta(0)


def test_second_cdr_for_the_same_leg_is_ignored(store: Store, make_cdr: MakeCdr) -> None:
    assert store.write_cdr(make_cdr(destination_number="1001")) is True
    assert store.write_cdr(make_cdr(destination_number="9999")) is False
    [only] = store.cdrs()
    assert only.destination_number == "1001"


def test_cdrs_come_newest_first_and_filter_by_leg_or_call(
    store: Store, make_cdr: MakeCdr, t0: datetime
) -> None:
    for i in range(5):
        store.write_cdr(
            make_cdr(uuid=f"leg-{i}", call_uuid="call-x" if i < 2 else "", start=t0 + timedelta(minutes=i))
        )
    assert [c.uuid for c in store.cdrs(limit=3)] == ["leg-4", "leg-3", "leg-2"]
    assert [c.uuid for c in store.cdrs(uuid="leg-1")] == ["leg-1"]
    assert [c.uuid for c in store.cdrs(call_uuid="call-x")] == ["leg-1", "leg-0"]
    assert store.cdrs(uuid="no-such-leg") == []


def test_cdr_variables_that_are_not_strings_are_stored_as_text(store: Store, make_cdr: MakeCdr) -> None:
    store.write_cdr(make_cdr(variables={"rtp_port": 16384, "recording": Path("/tmp/r.wav")}))  # type: ignore[dict-item]
    [back] = store.cdrs()
    assert back.variables == {"rtp_port": 16384, "recording": "/tmp/r.wav"}


def test_cdr_with_naive_timestamp_is_refused_before_it_reaches_the_store(t0: datetime) -> None:
    with pytest.raises(NaiveTimestamp, match="^start: timestamp has no timezone"):
        CdrRecord("x", "inbound", t0.replace(tzinfo=None), t0, HangupCause.NORMAL_CLEARING)


def test_cdr_written_before_close_is_there_after_reopen(db_url: str, make_cdr: MakeCdr) -> None:
    first = Store(db_url)
    first.open()
    first.write_cdr(make_cdr())
    first.close()
    second = Store(db_url)
    second.open()
    try:
        assert [c.uuid for c in second.cdrs()] == ["leg-a"]
    finally:
        second.close()


# -- registrations ----------------------------------------------------------------------


def test_upsert_refreshes_the_same_contact_instead_of_adding_one(
    store: Store, make_reg: MakeReg, t0: datetime
) -> None:
    store.upsert_registration(make_reg(expires_in=60, user_agent="phone/1"))
    store.upsert_registration(make_reg(expires_in=3600, user_agent="phone/2", call_id="cid-2"))
    [reg] = store.registrations(now=t0)
    assert reg.user_agent == "phone/2"
    assert reg.call_id == "cid-2"
    assert reg.expires_at == t0 + timedelta(seconds=3600)


def test_registration_round_trip_keeps_nat_and_network_fields(
    store: Store, make_reg: MakeReg, t0: datetime
) -> None:
    reg = make_reg(
        contact="sip:1000@10.0.0.5:5060;fs_nat=yes",
        network_ip="203.0.113.9",
        network_port=40000,
        transport="tcp",
        received="203.0.113.9:40000",
        nat=True,
        node="node-b",
        user_agent="Linphone/5",
    )
    store.upsert_registration(reg)
    assert store.registrations(now=t0) == [reg]


def test_a_user_may_hold_several_contacts_on_several_profiles(
    store: Store, make_reg: MakeReg, t0: datetime
) -> None:
    store.upsert_registration(make_reg(contact="sip:1000@127.0.0.1:5062"))
    store.upsert_registration(make_reg(contact="sip:1000@127.0.0.1:5064"))
    store.upsert_registration(make_reg(profile="verto", contact="verto-session-1", transport="wss"))
    store.upsert_registration(make_reg(user="1001"))
    assert len(store.registrations(now=t0)) == 4
    assert [r.contact for r in store.registrations(profile="internal", user="1000", now=t0)] == [
        "sip:1000@127.0.0.1:5062",
        "sip:1000@127.0.0.1:5064",
    ]
    assert [r.contact for r in store.registrations(profile="verto", now=t0)] == ["verto-session-1"]
    assert store.registrations(realm="other.test", now=t0) == []


def test_expired_contacts_are_hidden_then_removed_by_the_sweep(
    store: Store, make_reg: MakeReg, t0: datetime
) -> None:
    store.upsert_registration(make_reg(user="1000", expires_in=30))
    store.upsert_registration(make_reg(user="1001", expires_in=60))
    store.upsert_registration(make_reg(user="1002", expires_in=3600))
    later = t0 + timedelta(seconds=60)

    assert [r.user for r in store.registrations(now=later)] == ["1002"]
    assert [r.user for r in store.registrations(now=later, include_expired=True)] == ["1000", "1001", "1002"]

    gone = store.expire_registrations(later)
    assert [r.user for r in gone] == ["1000", "1001"]  # expiry exactly at `now` counts as expired
    assert gone[0].expires_at == t0 + timedelta(seconds=30)
    assert [r.user for r in store.registrations(include_expired=True, now=later)] == ["1002"]
    assert store.expire_registrations(later) == []


def test_delete_one_contact_or_all_of_a_user(store: Store, make_reg: MakeReg, t0: datetime) -> None:
    store.upsert_registration(make_reg(contact="sip:a@h"))
    store.upsert_registration(make_reg(contact="sip:b@h"))
    store.upsert_registration(make_reg(contact="sip:c@h"))
    store.upsert_registration(make_reg(user="1001"))
    assert store.delete_registration("internal", "1000", "example.test", "sip:a@h") == 1
    assert store.delete_registration("internal", "1000", "example.test", "sip:a@h") == 0
    assert store.delete_registration("internal", "1000", "example.test") == 2
    assert [r.user for r in store.registrations(now=t0)] == ["1001"]


def test_a_batch_of_registration_changes_is_one_write(store: Store, make_reg: MakeReg, t0: datetime) -> None:
    kept, dropped, refreshed = (make_reg(contact=f"sip:1000@127.0.0.1:{p}") for p in (5062, 5064, 5066))
    for reg in (kept, dropped, refreshed):
        store.upsert_registration(reg)
    later = replace(refreshed, expires_at=t0 + timedelta(hours=2), user_agent="refreshed")
    new = make_reg(user="1001", contact="sip:1001@127.0.0.1:5070")
    store.write_registrations(
        "internal",
        [
            (dropped.user, dropped.realm, dropped.contact, None),
            (later.user, later.realm, later.contact, later),
            (new.user, new.realm, new.contact, new),
        ],
    )
    assert sorted(store.registrations(now=t0), key=lambda r: (r.user, r.contact)) == [kept, later, new]


def test_registrations_survive_a_restart(db_url: str, make_reg: MakeReg, t0: datetime) -> None:
    regs = [make_reg(user=str(1000 + i)) for i in range(3)]
    first = Store(db_url)
    first.open()
    for reg in regs:
        first.upsert_registration(reg)
    first.close()

    second = Store(db_url)
    second.open()
    try:
        assert second.registrations(now=t0) == regs
    finally:
        second.close()


def test_registration_with_naive_expiry_is_refused(t0: datetime) -> None:
    with pytest.raises(NaiveTimestamp):
        RegistrationRecord("internal", "1000", "d", "sip:x", t0.replace(tzinfo=None))


def test_query_with_naive_now_raises_naive_timestamp(store: Store, t0: datetime) -> None:
    with pytest.raises(NaiveTimestamp):
        store.registrations(now=t0.replace(tzinfo=None))


# -- live channels ---------------------------------------------------------------------


def _channel(uuid: str, t0: datetime, node: str = "node-a", **kw: object) -> ChannelRecord:
    return ChannelRecord(uuid=uuid, name=f"sofia/internal/{uuid}", created=t0, node=node, **kw)  # type: ignore[arg-type]


def test_channel_rows_follow_create_update_destroy(store: Store, t0: datetime) -> None:
    store.upsert_channel(_channel("c1", t0, cid_num="1000", dest="1001"))
    store.upsert_channel(
        _channel(
            "c1",
            t0,
            cid_num="1000",
            dest="1001",
            state=ChannelState.EXECUTE,
            callstate=CallState.ACTIVE,
            application="bridge",
            application_data="user/1001",
            read_codec="PCMU",
            write_codec="PCMU",
        )
    )
    [row] = store.channels()
    assert row.state is ChannelState.EXECUTE
    assert row.callstate is CallState.ACTIVE
    assert row.application_data == "user/1001"
    assert store.delete_channel("c1") is True
    assert store.delete_channel("c1") is False
    assert store.channels() == []


def test_clear_node_removes_only_that_nodes_stale_channels(store: Store, t0: datetime) -> None:
    store.upsert_channel(_channel("a1", t0, node="node-a"))
    store.upsert_channel(_channel("a2", t0 + timedelta(seconds=1), node="node-a"))
    store.upsert_channel(_channel("b1", t0, node="node-b"))
    assert [c.uuid for c in store.channels()] == ["a1", "b1", "a2"]
    assert [c.uuid for c in store.channels(node="node-a")] == ["a1", "a2"]
    assert store.clear_node("node-a") == 2
    assert [c.uuid for c in store.channels()] == ["b1"]


# -- life cycle and errors ---------------------------------------------------------------


def test_methods_before_open_and_after_close_raise_store_not_open(db_url: str, make_reg: MakeReg) -> None:
    store = Store(db_url)
    with pytest.raises(StoreNotOpen, match="^store is not open$"):
        store.channels()
    store.open()
    store.close()
    with pytest.raises(StoreNotOpen):
        store.upsert_registration(make_reg())
    store.close()  # closing twice is harmless


def test_default_url_is_a_sqlite_file_in_the_data_directory(tmp_path: Path) -> None:
    assert default_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/switchcore.db"


def test_database_errors_arrive_as_store_error(store: Store, make_reg: MakeReg) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE registrations"))
    with pytest.raises(StoreError, match="no such table: registrations"):
        store.upsert_registration(make_reg())


def test_unopenable_url_raises_store_error(tmp_path: Path) -> None:
    (tmp_path / "switchcore.db").mkdir()  # a directory where the file should be
    with pytest.raises(StoreError, match="^cannot open store sqlite:///"):
        Store(default_url(tmp_path)).open()


def test_in_memory_store_works_for_unit_tests(make_reg: MakeReg, t0: datetime) -> None:
    store = Store("sqlite://")
    store.open()
    try:
        store.upsert_registration(make_reg())
        assert len(store.registrations(now=t0)) == 1
    finally:
        store.close()


# -- async wrappers ---------------------------------------------------------------------


async def test_async_wrappers_run_the_same_calls(
    store: Store, make_cdr: MakeCdr, make_reg: MakeReg, t0: datetime
) -> None:
    assert await store.awrite_cdr(make_cdr()) is True
    assert [c.uuid for c in await store.acdrs(limit=5, uuid="leg-a")] == ["leg-a"]
    await store.aupsert_registration(make_reg(expires_in=10))
    assert len(await store.aregistrations(profile="internal", now=t0)) == 1
    assert [r.user for r in await store.aexpire_registrations(t0 + timedelta(seconds=10))] == ["1000"]
    await store.aupsert_registration(make_reg())
    assert await store.adelete_registration("internal", "1000", "example.test") == 1
    await store.aupsert_channel(_channel("c1", t0))
    assert [c.uuid for c in await store.achannels()] == ["c1"]
    assert await store.adelete_channel("c1") is True
    await store.aupsert_channel(_channel("c2", t0))
    assert await store.aclear_node("node-a") == 1


async def test_aopen_and_aclose(db_url: str) -> None:
    store = Store(db_url)
    await store.aopen()
    assert store.is_open
    await store.aclose()
    assert not store.is_open


# -- the portable upsert used on backends without ON CONFLICT ------------------------------


def test_generic_upsert_updates_then_inserts(
    store: Store, make_reg: MakeReg, make_cdr: MakeCdr, t0: datetime
) -> None:
    from switchcore.store.rows import CDRS, REGISTRATION_KEY, REGISTRATIONS, cdr_values, reg_values
    from switchcore.store.store import _Upsert

    upsert = _Upsert("generic", REGISTRATIONS, REGISTRATION_KEY)
    insert_once = _Upsert("generic", CDRS, ("uuid",), update=False)
    assert upsert.native is None and insert_once.native is None
    with store.engine.begin() as conn:
        assert upsert(conn, reg_values(make_reg(user_agent="first"))) is True
        assert upsert(conn, reg_values(make_reg(user_agent="second"))) is True
        assert insert_once(conn, cdr_values(make_cdr())) is True
        assert insert_once(conn, cdr_values(make_cdr(destination_number="again"))) is False
    [reg] = store.registrations(now=t0)
    assert reg.user_agent == "second"
    [cdr] = store.cdrs()
    assert cdr.destination_number == ""
