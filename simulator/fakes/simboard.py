"""The simulated board this interpreter plays: identity, flash folder, and the world it senses.

Shared by every fake (machine, network, esp32, dht, onewire, ...). Portable: runs on CPython and
on the MicroPython unix interpreter. The simulator configures BOARD before boot.py runs; tests
build their own SimBoard and install it with use().
"""

import os

try:
    from time import monotonic_ns as _host_ns

    def host_ms():
        """The host's monotonic clock in ms: the board's clock when no world clock drives it."""
        return _host_ns() // 1000000

except ImportError:  # MicroPython: time_ns() is a system call, ticks_ms() is cheap (0.2 us)
    from time import ticks_diff as _ticks_diff
    from time import ticks_ms as _ticks_ms

    _host = [_ticks_ms(), 0]  # the last ticks read, ms since the first

    def host_ms():
        """The host's monotonic clock in ms: the board's clock when no world clock drives it."""
        t = _ticks_ms()
        _host[1] += _ticks_diff(t, _host[0])  # ticks wrap; the sum does not
        _host[0] = t
        return _host[1]


# machine.reset_cause() values of the ESP32 port
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


class BoardReset(SystemExit):
    """Raised by machine.reset(), a missed watchdog feed or deepsleep: the runner reboots.

    A SystemExit, as a reset ends everything at once: no `except Exception` in the application
    swallows it, and it leaves asyncio's event loop from inside any task on both runtimes (a
    plain Exception would stay in its task).
    """

    def __init__(self, cause):
        super().__init__(cause)
        self.cause = cause


class QuietWorld:
    """The world when nothing is simulated: inputs read low, ADCs read 0, no devices."""

    def input_level(self, pin):
        return 0

    def adc_microvolts(self, pin):
        return 0

    def output_changed(self, pin, level):
        pass

    def pwm_changed(self, pin, freq, duty_u16):
        """A PWM output changed: freq in Hz and duty 0-65536 (65536 = always on); 0, 0 = stopped."""
        pass

    def i2c_device(self, bus_id, addr):
        return None

    def onewire_devices(self, pin):
        """The 1-Wire devices on GPIO pin (e.g. simonewire.DS18B20); the same objects every call."""
        return []

    def dht_reading(self, pin, model):
        """(temperature C, humidity %) or None when the sensor does not answer.

        model is "DHT11" or "DHT22"; 5 raw bytes instead stand for a frame as the sensor sent it
        (e.g. with a bad checksum).
        """
        return None

    def mcu_temperature(self):
        return 40

    def access_points(self):
        """[(ssid, bssid bytes, channel, rssi, security, hidden, password)] in range."""
        return []

    def time_source(self):
        """Seconds since the Unix epoch for ntptime, or None when unreachable."""
        return None

    def wifi_connect_ms(self):
        """How long one Wi-Fi association attempt takes (network.WLAN.connect); 0 = at once."""
        return 0


class Airwaves:
    """Radio faults between one board and the world's access points (the fault-injection API).

    drop(ssid) silences an access point (None: all of them) as if switched off or out of range,
    restore(ssid) brings it back (None: everything), set_rssi(ssid, dbm) forces its signal
    (None: the world's again). An access point at FLOOR_DBM or weaker is out of range.
    """

    FLOOR_DBM = -100

    def __init__(self):
        self.dropped = []  # SSIDs silenced; "*" silences every access point
        self.rssi = {}  # SSID -> forced RSSI in dBm

    def drop(self, ssid=None):
        key = "*" if ssid is None else ssid
        if key not in self.dropped:
            self.dropped.append(key)

    def restore(self, ssid=None):
        if ssid is None:
            self.dropped = []
        elif ssid in self.dropped:
            self.dropped.remove(ssid)

    def set_rssi(self, ssid, dbm):
        if dbm is None:
            self.rssi.pop(ssid, None)
        else:
            self.rssi[ssid] = int(dbm)

    def heard(self, access_points):
        """The world's access points as this board hears them: faults applied, SSIDs as str."""
        if "*" in self.dropped:
            return []
        out = []
        for ap in access_points:
            ssid = ap[0] if isinstance(ap[0], str) else str(ap[0], "utf-8")
            rssi = self.rssi.get(ssid, ap[3])
            if ssid not in self.dropped and rssi > self.FLOOR_DBM:
                out.append((ssid, bytes(ap[1]), ap[2], rssi, ap[4], ap[5], ap[6]))
        return out


class SimBoard:
    """One simulated ESP32: what the fakes read and change."""

    def __init__(self, board_id="sim-0001", seed=1, flash_dir=None, chip="ESP32", world=None):
        self.board_id = board_id
        self.seed = seed
        self.chip = chip
        self.flash_dir = flash_dir  # a host folder standing for the littlefs partition
        self.world = world if world is not None else QuietWorld()
        self.reset_cause = PWRON_RESET
        self.wifi_active = False  # set by network.WLAN(STA/AP).active(); ADC2 refuses reads then
        self.pins = {}  # GPIO number -> the machine.Pin state object of that pin
        self.machine = None  # simchip.Chip: the machine fake's CPU freq, WDT, RTC, timers; made on use
        self.clock = None  # a function giving milliseconds for WDT/Timer/RTC; None = the host's clock
        self.air = Airwaves()  # Wi-Fi faults: dropped access points, forced RSSI
        self.wlan = None  # network.py's Wi-Fi state (interfaces, link, config), made on first use
        self.wake_sources = {}  # esp32.wake_on_*(): "ext0", "ext1", "touch", "ulp", "gpio" -> setting
        self.poll = None  # called by board() before every fake's look at the board (simctl: faults)
        n = 0
        for ch in board_id:
            n = (n * 31 + ord(ch)) & 0xFFFFFF
        self.mac = bytes((0x24, 0x6F, 0x28, (n >> 16) & 255, (n >> 8) & 255, n & 255))

    def path(self, name):
        """Host path of a file in the board's flash folder."""
        if self.flash_dir is None:
            raise OSError(2, "no flash folder for this board")
        return self.flash_dir + "/" + name.lstrip("/")

    def nvs_path(self, namespace):
        """Host file of an esp32.NVS namespace: beside the flash folder, as NVS is its own partition."""
        if self.flash_dir is None:
            raise OSError(2, "no flash folder for this board")
        return self.flash_dir.rstrip("/") + ".nvs/" + namespace + ".json"

    def reset(self, cause):
        raise BoardReset(cause)


BOARD = SimBoard(flash_dir=os.getcwd() if hasattr(os, "getcwd") else None)


def gpio_number(pin):
    """The GPIO number of a pin given to a driver (dht, onewire): an int, or an object with an
    integer id: pin.id() if it has that method, else the machine fake's pin._id, else int(pin)."""
    if isinstance(pin, int):
        return pin
    get = getattr(pin, "id", None)
    if callable(get):
        return get()
    if isinstance(getattr(pin, "_id", None), int):
        return pin._id
    try:
        return int(pin)
    except (TypeError, ValueError):
        raise TypeError("expecting a pin, not %s" % type(pin).__name__)


def use(board):
    """Make board the one the fakes see (tests, fleets); returns it."""
    global BOARD
    BOARD = board
    return board


def board():
    """The board the fakes see; first lets its poll hook (fault control) catch up."""
    b = BOARD
    if b.poll is not None:
        b.poll()
    return b
