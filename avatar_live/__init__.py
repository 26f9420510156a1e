"""avatar-live: a real-time webcam avatar built on EMOCA, with offline embedded defaults."""

__version__ = "0.1.0"
