"""Real-peer harness for end-to-end tests: pjsua2 phones, baresip, sipp and kamailio on loopback.

Every peer runs as a child process of the test and is stopped by its ``close()`` (or by leaving its
``with`` block, or by the fixtures in :mod:`tests.peers.fixtures`), even when the test fails.
"""
