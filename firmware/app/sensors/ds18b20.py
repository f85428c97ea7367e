"""DS18B20 thermometers on one 1-Wire GPIO (kind ds18b20), through onewire and ds18x20.

begin() finds the probes (SEARCH ROM, so probes can be added and removed) and starts one
conversion for all of them; read() 750 ms later reads each probe. Quantities: with one probe on
the bus and no "roms" map, "temperature"; a probe named in "roms" ({"28ff...": "bench"}, ROM
in hex) gives "temperature_bench"; any other "temperature_<rom hex>". read() returns what the
probes that answered measured, and raises only when none did.
"""

import ds18x20
import onewire

from app.sensors import Driver as _Base
from app.sensors import bad, pin

_CONVERSION_MS = 750  # at 12 bits, the power-on resolution


class Driver(_Base):
    def __init__(self, spec):
        _Base.__init__(self, spec)
        p = pin(spec)
        self.at = " on GPIO %d" % spec["pin"]
        self.ds = ds18x20.DS18X20(onewire.OneWire(p))
        roms = spec.get("roms", {})
        self.names = names = {}  # ROM hex -> quantity
        try:
            for k, v in roms.items():
                k = k.lower()
                if len(k) != 16 or k.strip("0123456789abcdef") or not v or not isinstance(v, str):
                    raise ValueError
                names[k] = "temperature_" + v
        except Exception:
            raise bad(spec, "'roms' is %r; map ROMs (16 hex digits) to names: {'28ff...': 'bench'}" % (roms,))
        self.quantities = tuple((q, "C") for q in self.names.values()) or (("temperature", "C"),)
        self.roms = None  # [(rom, quantity)] found by the last begin()

    def start(self):
        self.roms = None
        roms = self.ds.scan()
        if not roms:
            raise OSError(19, "ENODEV")  # nothing answers on the bus
        one = len(roms) == 1 and not self.names
        found = []
        for r in roms:
            h = "%02x" * 8 % tuple(r)
            found.append((r, "temperature" if one else self.names.get(h) or "temperature_" + h))
        self.quantities = tuple((q, "C") for _, q in found)
        self.ds.convert_temp()
        self.roms = found
        return _CONVERSION_MS

    def measure(self):
        found, self.roms = self.roms, None  # one read per conversion: never a stale value
        if found is None:
            raise Exception("read() without begin()")
        out = {}
        err = None
        for r, q in found:
            try:
                out[q] = self.ds.read_temp(r)
            except Exception as e:
                err = e
        if not out:
            raise err
        return out
