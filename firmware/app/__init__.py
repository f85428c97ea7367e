"""The device application: hello, telemetry, relay commands and diagnostics (docs/protocol.md)."""
