"""A one-shot SIP OPTIONS ping over UDP, to tell when a SIP server (kamailio, the switch) is up."""

from __future__ import annotations

import secrets
import socket
import time

LOOPBACK = "127.0.0.1"


def options_request(host: str, port: int, local_port: int, user: str = "ping") -> bytes:
    """An RFC 3261 section 11 OPTIONS request (no dialog, fresh branch/tag/Call-ID)."""
    branch = "z9hG4bK" + secrets.token_hex(8)
    tag = secrets.token_hex(4)
    call_id = secrets.token_hex(10)
    return (
        f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {LOOPBACK}:{local_port};rport;branch={branch}\r\n"
        f"Max-Forwards: 70\r\n"
        f"From: <sip:{user}@{LOOPBACK}>;tag={tag}\r\n"
        f"To: <sip:{host}:{port}>\r\n"
        f"Call-ID: {call_id}@{LOOPBACK}\r\n"
        f"CSeq: 1 OPTIONS\r\n"
        f"Contact: <sip:{user}@{LOOPBACK}:{local_port}>\r\n"
        f"Accept: application/sdp\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


def options_ping(host: str, port: int, timeout: float = 0.5) -> int | None:
    """Send one OPTIONS; return the response's status code, or None if nothing came back in time."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.settimeout(timeout)
        sock.sendto(options_request(host, port, sock.getsockname()[1]), (host, port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65535)
            except (TimeoutError, ConnectionRefusedError):
                return None
            status_line = data.split(b"\r\n", 1)[0].split()
            if len(status_line) >= 2 and status_line[0] == b"SIP/2.0" and status_line[1].isdigit():
                code = int(status_line[1])
                if code >= 200:
                    return code
    return None


def wait_for_sip(host: str, port: int, timeout: float = 10.0) -> int:
    """Ping until a final response arrives; return its code or raise ``TimeoutError``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = options_ping(host, port, timeout=0.3)
        if code is not None:
            return code
        time.sleep(0.05)
    raise TimeoutError(f"no SIP response from {host}:{port} within {timeout} s")
