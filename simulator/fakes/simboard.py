"""The simulated board this interpreter plays: identity, flash folder, and the world it senses.

Shared by every fake (machine, network, esp32, dht, onewire, ...). Portable: runs on CPython and
on the MicroPython unix interpreter. The simulator configures BOARD before boot.py runs; tests
build their own SimBoard and install it with use().
"""

import os

# machine.reset_cause() values of the ESP32 port
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


class BoardReset(Exception):
    """Raised by machine.reset(), a missed watchdog feed or deepsleep: the runner reboots."""

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

    def i2c_device(self, bus_id, addr):
        return None

    def onewire_devices(self, pin):
        return []

    def dht_reading(self, pin, model):
        """(temperature C, humidity %) or None when the sensor does not answer."""
        return None

    def mcu_temperature(self):
        return 40

    def access_points(self):
        """[(ssid, bssid bytes, channel, rssi, security, hidden, password)] in range."""
        return []

    def time_source(self):
        """Seconds since the Unix epoch for ntptime, or None when unreachable."""
        return None


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
        n = 0
        for ch in board_id:
            n = (n * 31 + ord(ch)) & 0xFFFFFF
        self.mac = bytes((0x24, 0x6F, 0x28, (n >> 16) & 255, (n >> 8) & 255, n & 255))

    def path(self, name):
        """Host path of a file in the board's flash folder."""
        if self.flash_dir is None:
            raise OSError(2, "no flash folder for this board")
        return self.flash_dir + "/" + name.lstrip("/")

    def reset(self, cause):
        raise BoardReset(cause)


BOARD = SimBoard(flash_dir=os.getcwd() if hasattr(os, "getcwd") else None)


def use(board):
    """Make board the one the fakes see (tests, fleets); returns it."""
    global BOARD
    BOARD = board
    return board


def board():
    return BOARD
