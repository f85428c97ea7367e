"""DHT11 and DHT22 (AM2302) on one GPIO, through MicroPython's dht module (kinds dht11, dht22).

The file is not called dht.py so that it does not shadow that module.
"""

import dht

from app.sensors import Driver as _Base
from app.sensors import pin


class Driver(_Base):
    quantities = (("temperature", "C"), ("humidity", "%"))

    def __init__(self, spec):
        _Base.__init__(self, spec)
        p = pin(spec)
        self.at = " on GPIO %d" % spec["pin"]
        self.dev = (dht.DHT11 if self.kind == "dht11" else dht.DHT22)(p)

    def measure(self):
        d = self.dev
        d.measure()  # the whole exchange (about 5 ms), so begin() has nothing to start
        return {"temperature": d.temperature(), "humidity": d.humidity()}
