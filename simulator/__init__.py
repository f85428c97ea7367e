"""The simulator: makes CPython and the MicroPython unix interpreter look like an ESP32."""
