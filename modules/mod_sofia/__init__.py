"""mod_sofia: the SIP endpoint (RFC 3261)."""
