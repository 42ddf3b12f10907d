"""Real-peer harness for end-to-end tests: pjsua2 phones, baresip, sipp and kamailio on loopback.

Every peer runs as a child process of the test and is stopped by its ``close()`` (or by leaving its
``with`` block, or by the fixtures in :mod:`tests.peers.fixtures`), even when the test fails; a
killed pytest takes its peers with it (``PR_SET_PDEATHSIG`` / stdin EOF).

==========================  =============================================================
``phone.Phone``             pjsua2 phone (``pjsua_phone.py`` subprocess, JSON lines)
``baresip.Baresip``         baresip 1.0.0 over ctrl_tcp + cons (opus, PCMU, PCMA, G722)
``sipp.Sipp``               sipp runs; scenarios in ``scenarios/*.xml``; ``SippResult``
``kamailio.Kamailio``       registrar/proxy with digest auth ("the provider")
``audio``                   tone WAVs, ``read_wav``, ``tone_present``, mu-law, pcap writer
``fixtures``                ``make_phone``, ``make_baresip``, ``make_sipp``, ``make_kamailio``,
                            ``kamailio``, ``peer_ports`` (override for your port range)
``sipping.wait_for_sip``    OPTIONS ping until a SIP server answers
==========================  =============================================================

Sketch of a switch test::

    from tests.peers.fixtures import make_phone, peer_ports

    def test_extension_call(make_phone, switch):           # switch: your fixture, on 127.0.0.1:PORT
        alice = make_phone("alice")
        bob = make_phone("bob", auto_answer=True)
        alice.register("1000", "1234", registrar=f"sip:127.0.0.1:{switch.port}")
        bob.register("1001", "1234", registrar=f"sip:127.0.0.1:{switch.port}")
        call = alice.call_and_wait_confirmed(f"sip:1001@127.0.0.1:{switch.port}")
        alice.dtmf("1234#")
        assert bob.wait_dtmf("1234#")
        alice.hangup_and_wait(call)

In asyncio tests (the switch in the same event loop) use ``await alice.aio.<method>(...)``.
"""
