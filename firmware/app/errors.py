"""The application's one error type: a machine-readable code and a message a person can act on.

Command results carry both ({"ok": false, "error": {"code": ..., "message": ...}}), so every
module raises AppError with a code from this list rather than its own exception classes (each
class costs heap on the board):
  bad_params, unknown_method, unknown_relay, unknown_sensor, interlocked, superseded, expired,
  busy, sensor_missing, sensor_crc, sensor_failed, config_invalid, io_error, internal
"""


class AppError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self):
        return "%s: %s" % (self.code, self.message)
