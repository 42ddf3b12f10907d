"""switchcore: a telephony switch in Python, in the spirit of FreeSWITCH."""

__version__ = "0.1.0"

__all__ = ["__version__"]
