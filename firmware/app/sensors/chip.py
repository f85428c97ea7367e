"""The chip's own temperature sensor (kind chip_temperature): no wiring, a rough die temperature."""

import esp32

from app.sensors import Driver as _Base


class Driver(_Base):
    quantities = (("temperature", "C"),)

    def measure(self):
        # ESP32-S2/S3/C3... have mcu_temperature() in C; the classic ESP32 only raw_temperature() in F.
        f = getattr(esp32, "mcu_temperature", None)
        return {"temperature": f() if f else (esp32.raw_temperature() - 32) * 5 / 9}
