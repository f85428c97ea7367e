"""An analog sensor on an ADC1 pin (kind analog): a voltage, or a value by two-point calibration.

Spec: "pin" (GPIO 32-39: ADC2 is unusable while Wi-Fi is on), "atten" in dB (0, 2.5, 6 or 11;
default 11, up to about 2.45 V), "calibration": [[mV, value], [mV, value]] (a straight line
through both points; without it the value is in volts), "quantity" and "unit" (default
voltage, V).
"""

from machine import ADC

from app.sensors import Driver as _Base
from app.sensors import bad, number, pin

_ADC1 = (32, 33, 34, 35, 36, 37, 38, 39)
_ATTEN = (0, 2.5, 6, 11)  # dB, in the order of ADC.ATTN_0DB .. ATTN_11DB


class Driver(_Base):
    def __init__(self, spec):
        _Base.__init__(self, spec)
        p = pin(spec)
        g = spec["pin"]
        if g not in _ADC1:
            raise bad(spec, "'pin' is %d, not an ADC1 pin; wire the sensor to GPIO 32-39" % g)
        self.at = " on GPIO %d" % g
        a = _ATTEN.index(number(spec, "atten", 11, _ATTEN))
        self.adc = ADC(p, atten=a)
        self.quantity = q = spec.get("quantity", "voltage")
        self.quantities = ((q, spec.get("unit", "V")),)
        cal = spec.get("calibration")
        if cal is None:
            self.line = (0.000001, 0.0)  # microvolts to volts
            return
        try:
            (m0, v0), (m1, v1) = cal
            k = (v1 - v0) / (m1 - m0) / 1000  # per microvolt
        except Exception:
            raise bad(spec, "'calibration' is %r; give [[mV, value], [mV, value]] at two mV" % (cal,))
        self.line = (k, v0 - k * m0 * 1000)

    def measure(self):
        k, b = self.line
        return {self.quantity: k * self.adc.read_uv() + b}
