"""Fake of MicroPython's ESP32 `machine` module: Pin, ADC, I2C, PWM, WDT, RTC, Timer and resets.

Portable (CPython and the MicroPython unix interpreter), first on the import path. Each call looks
the board up at call time (simboard.board()), asks its world for inputs and keeps its state in
simchip's explicit classes on the board. Signatures, constants and errors follow the ESP32 port.
"""

import errno as _errno
import sys as _sys
import time as _time

import simboard as _simboard
import simchip as _chip
from simchip import check_watchdog, on_reset  # noqa: F401 (simulator hooks, see SIMULATOR_ONLY)

PWRON_RESET = _simboard.PWRON_RESET
HARD_RESET = _simboard.HARD_RESET
WDT_RESET = _simboard.WDT_RESET
DEEPSLEEP_RESET = _simboard.DEEPSLEEP_RESET
SOFT_RESET = _simboard.SOFT_RESET
SLEEP = 2
DEEPSLEEP = 4
PIN_WAKE = 2
EXT0_WAKE = 2
EXT1_WAKE = 3
TIMER_WAKE = 4
TOUCHPAD_WAKE = 5
ULP_WAKE = 6

# Public names that exist only in the simulator; the API parity test leaves them out.
SIMULATOR_ONLY = ("SIMULATOR_ONLY", "simulate_input", "check_watchdog", "on_reset")

_GPIOS = tuple(range(24)) + (25, 26, 27) + tuple(range(32, 40))  # ports/esp32/machine_pin.h
_FIRST_INPUT_ONLY = 34
_ADC1 = (36, 37, 38, 39, 32, 33, 34, 35)  # channels 0-7
_ADC2 = (4, 0, 2, 15, 13, 12, 14, 27, 25, 26)  # channels 0-9; Wi-Fi owns them while it is on
_FULL_SCALE_UV = (950000, 1250000, 1750000, 2450000)  # quickref ranges of ATTN_0DB..ATTN_11DB
_MPY = _sys.implementation.name == "micropython"
_UNSET = object()
_board = _simboard.board
_service = _chip.service


def _oserror(code, name):
    # MicroPython raises OSError(code); CPython needs the name to set .errno.
    return OSError(code) if _MPY else OSError(code, name)


def _gpio(pin):
    if isinstance(pin, Pin):
        return pin._id
    if isinstance(pin, int) and pin in _GPIOS:
        return pin
    raise ValueError("invalid pin")


def simulate_input(pin, level):
    """Simulator hook: drive an input's wire to level (None: back to the world); fires its IRQ."""
    _chip.simulate_input(_gpio(pin), level)


def disable_irq():
    c = _chip.chip()
    state = 1 if c.irq_enabled else 0
    c.irq_enabled = False
    return state


def enable_irq(state):
    c = _chip.chip()
    c.irq_enabled = bool(state)
    while c.irq_enabled and c.pending:
        handler, arg = c.pending.pop(0)
        _chip.call(handler, arg)


class _PinIRQ:
    def __init__(self, pin):
        self._pin = pin

    def __call__(self):
        st = _chip.pin(_board(), self._pin._id)
        if st.handler is not None:
            _chip.schedule(st.handler, self._pin)

    def trigger(self, value=_UNSET):
        st = _chip.pin(_board(), self._pin._id)
        old = st.trigger
        if value is not _UNSET:
            st.trigger = value
        return old


class Pin:
    """A GPIO: state in board().pins, input levels from the world, outputs reported to it."""

    IN = _chip.IN
    OUT = _chip.OUT
    OPEN_DRAIN = _chip.OPEN_DRAIN
    PULL_DOWN = 1
    PULL_UP = _chip.PULL_UP
    IRQ_RISING = _chip.IRQ_RISING
    IRQ_FALLING = _chip.IRQ_FALLING
    WAKE_LOW = _chip.WAKE_LOW
    WAKE_HIGH = _chip.WAKE_HIGH
    DRIVE_0 = 0
    DRIVE_1 = 1
    DRIVE_2 = 2
    DRIVE_3 = 3

    def __init__(self, id, mode=None, pull=-1, *, value=None, drive=None, hold=None):
        self._id = _gpio(id)
        _service()
        if mode is not None or pull != -1 or value is not None or drive is not None or hold is not None:
            self.init(mode, pull, value=value, drive=drive, hold=hold)

    def __repr__(self):
        return "Pin(%d)" % self._id

    def init(self, mode=None, pull=-1, *, value=None, drive=None, hold=None):
        b = _board()
        st = _chip.pin(b, self._id)
        output_capable = self._id < _FIRST_INPUT_ONLY
        if mode is not None:
            if mode not in (0, Pin.IN, Pin.OUT, Pin.OPEN_DRAIN):
                raise ValueError("invalid pin mode")
            if mode & 2 and not output_capable:
                raise ValueError("pin can only be input")
        if value is not None:
            st.out = 1 if value else 0
        if drive is not None and output_capable and 0 <= drive <= 3:
            st.drive = drive
        if mode is not None:
            st.mode = mode or None
        if pull != -1:
            st.pull = pull
        if hold is not None and output_capable:
            st.hold = bool(hold)  # a held pad keeps its level through resets and deepsleep
        _chip.update(b, self._id, st)

    def value(self, x=_UNSET):
        _service()
        b = _board()
        st = _chip.pin(b, self._id)
        if x is _UNSET:
            return _chip.level(b, self._id, st)
        st.out = 1 if x else 0
        _chip.update(b, self._id, st)

    def __call__(self, x=_UNSET):
        return self.value(x)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def toggle(self):
        self.value(1 - _chip.pin(_board(), self._id).out)

    def irq(self, handler=_UNSET, trigger=_UNSET, wake=None):
        """Set (or with no arguments, keep) the handler; it runs with this Pin on each edge."""
        if handler is not _UNSET or trigger is not _UNSET or wake is not None:
            b = _board()
            st = _chip.pin(b, self._id)
            handler = None if handler is _UNSET else handler
            _chip.set_handler(
                b, self._id, st, handler, 0 if handler is None else (3 if trigger is _UNSET else trigger)
            )
            st.irq_pin = self
            st.last = _chip.level(b, self._id, st)
        return _PinIRQ(self)


class ADC:
    """ADC1 (GPIO 32-39) and ADC2 (GPIO 0, 2, 4, 12-15, 25-27) reading world.adc_microvolts()."""

    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_9BIT = 9
    WIDTH_10BIT = 10
    WIDTH_11BIT = 11
    WIDTH_12BIT = 12

    def __init__(self, id, *, atten=-1):
        gpio = _gpio(id)
        if gpio not in _ADC1 and gpio not in _ADC2:
            raise ValueError("invalid pin")
        self._id = gpio
        self._block = 0 if gpio in _ADC1 else 1
        self.init(atten=atten)

    def __repr__(self):
        return "ADC(Pin(%d), atten=%d)" % (self._id, _chip.pin(_board(), self._id).atten)

    def init(self, *, atten=-1):
        _service()
        st = _chip.pin(_board(), self._id)
        if atten != -1:
            self.atten(atten)
        elif st.atten is None:
            st.atten = ADC.ATTN_0DB

    def deinit(self):
        pass

    def atten(self, atten):
        if atten not in (0, 1, 2, 3):
            raise ValueError("invalid atten")
        _chip.pin(_board(), self._id).atten = atten

    def width(self, bits):
        if not 9 <= bits <= 12:
            raise ValueError("invalid bits")
        _chip.chip().adc_bits[self._block] = bits

    def _read(self):
        # (raw, bits, full scale in microvolts) of one conversion
        _service()
        b = _board()
        if self._block == 1 and b.wifi_active:
            raise OSError(_errno.ETIMEDOUT, "ESP_ERR_TIMEOUT")  # as check_esp_err() raises it
        bits = _chip.chip(b).adc_bits[self._block]
        full = _FULL_SCALE_UV[_chip.pin(b, self._id).atten or 0]
        top = (1 << bits) - 1
        uv = min(max(int(b.world.adc_microvolts(self._id)), 0), full)
        return (uv * top + full // 2) // full, bits, full

    def read(self):
        return self._read()[0]

    def read_u16(self):
        raw, bits, _ = self._read()
        return (raw << (16 - bits) | raw >> (2 * bits - 16)) & 0xFFFF

    def read_uv(self):
        raw, bits, full = self._read()
        top = (1 << bits) - 1
        return (raw * full + top // 2) // top // 1000 * 1000  # calibration gives whole millivolts


class I2C:
    """Hardware I2C 0 and 1; its devices are world.i2c_device(id, addr) (see i2c_devices.py)."""

    def __init__(self, id=-1, *, scl=None, sda=None, freq=400000, timeout=50000):
        _service()
        if id == -1:  # the legacy spelling of SoftI2C
            print("Warning: I2C(-1, ...) is deprecated, use SoftI2C(...) instead")
            SoftI2C.__init__(self, scl, sda, freq=freq, timeout=timeout)
            return
        if id not in (0, 1):
            raise ValueError("I2C(%d) doesn't exist" % id)
        self._bus = id
        self._scl = _gpio(scl) if scl is not None else (18, 25)[id]
        self._sda = _gpio(sda) if sda is not None else (19, 26)[id]
        self._freq = freq
        self._timeout = timeout

    def __repr__(self):
        if isinstance(self._bus, tuple):
            return "SoftI2C(scl=%d, sda=%d, freq=%d)" % (self._scl, self._sda, self._freq)
        return "I2C(%d, scl=%d, sda=%d, freq=%d)" % (self._bus, self._scl, self._sda, self._freq)

    def _device(self, addr):
        _service()
        dev = _board().world.i2c_device(self._bus, addr)
        if dev is None:
            raise _oserror(_errno.ENODEV, "ENODEV")  # nobody acknowledged the address
        return dev

    def scan(self):
        _service()
        world = _board().world
        return [a for a in range(0x08, 0x78) if world.i2c_device(self._bus, a) is not None]

    def writeto(self, addr, buf, stop=True):
        self._device(addr).write(bytes(buf))
        return len(buf)

    def writevto(self, addr, vector, stop=True):
        data = b"".join(bytes(v) for v in vector)
        self._device(addr).write(data)
        return len(data)

    def readfrom(self, addr, nbytes, stop=True):
        return bytes(self._device(addr).read(nbytes))

    def readfrom_into(self, addr, buf, stop=True):
        buf[:] = self._device(addr).read(len(buf))

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        dev = self._device(addr)
        dev.write(_memaddr(memaddr, addrsize))  # then a repeated start, as the port does
        return bytes(dev.read(nbytes))

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        buf[:] = self.readfrom_mem(addr, memaddr, len(buf), addrsize=addrsize)

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        self._device(addr).write(_memaddr(memaddr, addrsize) + bytes(buf))


def _memaddr(memaddr, addrsize):
    if addrsize & 7 or addrsize > 32:
        raise ValueError("invalid addrsize")
    return bytes((memaddr >> s) & 0xFF for s in range(addrsize - 8, -1, -8))


class SoftI2C(I2C):
    """Bit-banged I2C on any two pins; its bus id for the world is the pair (scl, sda)."""

    def __init__(self, scl, sda, *, freq=400000, timeout=50000):
        _service()
        self._scl = _gpio(scl)
        self._sda = _gpio(sda)
        self._bus = (self._scl, self._sda)
        self._freq = freq
        self._timeout = timeout


class PWM:
    """LEDC PWM: 16 channels, 8 timers (one per frequency); changes go to world.pwm_changed()."""

    def __init__(self, dest, freq=-1, *, duty=-1, duty_u16=-1, duty_ns=-1, invert=False, lightsleep=False):
        self._id = _gpio(dest)
        if self._id >= _FIRST_INPUT_ONLY:
            raise OSError(-258, "ESP_ERR_INVALID_ARG")  # ledc_channel_config() refuses the pin
        self.init(freq, duty=duty, duty_u16=duty_u16, duty_ns=duty_ns, invert=invert)

    def __repr__(self):
        p = _chip.pin(_board(), self._id).pwm
        if p is None:
            return "PWM(Pin(%d))" % self._id
        return "PWM(Pin(%d), freq=%d, duty_u16=%d)" % (self._id, p[0], min(p[1], 65535))

    def init(self, freq=-1, *, duty=-1, duty_u16=-1, duty_ns=-1, invert=False, lightsleep=False):
        _service()
        if (duty != -1) + (duty_u16 != -1) + (duty_ns != -1) > 1:
            raise ValueError("only one of parameters 'duty', 'duty_u16' or 'duty_ns' is allowed")
        b = _board()
        st = _chip.pin(b, self._id)
        old = st.pwm
        if freq == -1:
            freq = old[0] if old else 5000
        _check_freq(freq)
        others = [s.pwm for g, s in b.pins.items() if s.pwm is not None and g != self._id]
        if len(others) >= 16:
            raise RuntimeError("out of PWM channels:16")
        freqs = set(p[0] for p in others)
        if freq not in freqs and len(freqs) >= 8:
            raise RuntimeError("out of PWM timers:8")
        st.pwm = [freq, old[1] if old else 32768, 1 if invert else 0]  # a new PWM starts at 50 %
        if duty != -1:
            self.duty(duty)
        elif duty_u16 != -1:
            self.duty_u16(duty_u16)
        elif duty_ns != -1:
            self.duty_ns(duty_ns)
        self._report(st)

    def deinit(self):
        b = _board()
        st = _chip.pin(b, self._id)
        if st.pwm is not None:
            st.pwm = None
            _chip.report_pwm(b, self._id, 0, 0)
            _chip.update(b, self._id, st)

    def _active(self):
        _service()
        st = _chip.pin(_board(), self._id)
        if st.pwm is None:
            raise RuntimeError("PWM is inactive")
        return st

    def _report(self, st):
        freq, duty, inv = st.pwm
        _chip.report_pwm(_board(), self._id, freq, 65536 - duty if inv else duty)

    def freq(self, value=_UNSET):
        st = self._active()
        if value is _UNSET:
            return st.pwm[0]
        _check_freq(value)
        st.pwm[0] = value
        self._report(st)

    def duty(self, value=_UNSET):
        st = self._active()
        if value is _UNSET:
            return min(st.pwm[1] >> 6, 1023)
        if not 0 <= value <= 1023:
            raise ValueError("duty must be from 0 to 1023")
        st.pwm[1] = 65536 if value == 1023 else value << 6  # 1023 means always on
        self._report(st)

    def duty_u16(self, value=_UNSET):
        st = self._active()
        if value is _UNSET:
            return min(st.pwm[1], 65535)
        if not 0 <= value <= 65536:
            raise ValueError("duty_u16 must be from 0 to 65536")
        st.pwm[1] = 65536 if value >= 65535 else value
        self._report(st)

    def duty_ns(self, value=_UNSET):
        st = self._active()
        period = 1000000000 // st.pwm[0]
        if value is _UNSET:
            return st.pwm[1] * period // 65536
        if not 0 <= value <= period:
            raise ValueError("duty_ns must be from 0 to %d ns" % period)
        st.pwm[1] = value * 65536 // period
        self._report(st)


def _check_freq(freq):
    if not 0 < freq <= 40000000:
        raise ValueError("frequency must be from 1Hz to 40MHz")


class WDT:
    """The task watchdog: once started it cannot be stopped; a missed feed resets the board."""

    def __init__(self, id=0, timeout=5000):
        if id != 0:
            raise ValueError()
        if timeout <= 0:
            raise ValueError("WDT timeout too short")
        _service()
        b = _board()
        c = _chip.chip(b)
        c.wdt_timeout = timeout
        c.wdt_deadline = _chip.now(b) + timeout

    def feed(self):
        _service()  # a feed after the deadline comes too late
        b = _board()
        c = _chip.chip(b)
        if c.wdt_timeout is not None:
            c.wdt_deadline = _chip.now(b) + c.wdt_timeout


class RTC:
    """The RTC: keeps its time and 2 KiB of memory across every reset but a power-on."""

    def datetime(self, datetimetuple=None):
        _service()
        b = _board()
        c = _chip.chip(b)
        if datetimetuple is None:
            us = c.rtc_us + (_chip.now(b) - c.rtc_at) * 1000
            s, sub = divmod(us, 1000000)
            days, s = divmod(s, 86400)
            y, m, d = _chip.date_of(days)
            return (y, m, d, (days + 5) % 7, s // 3600, s // 60 % 60, s % 60, sub)
        if len(datetimetuple) != 8:
            raise ValueError("requested length 8 but object has length %d" % len(datetimetuple))
        y, m, d, _, hh, mm, ss, us = datetimetuple  # the weekday given is ignored, as on the chip
        s = _chip.days_since_2000(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss
        c.rtc_us = s * 1000000 + us
        c.rtc_at = _chip.now(b)

    def init(self, datetime):
        self.datetime(datetime)

    def memory(self, data=None):
        c = _chip.chip()
        if data is None:
            return c.rtc_memory
        if len(data) > 2048:
            raise ValueError("buffer too long")
        c.rtc_memory = bytes(data)


class Timer:
    """Hardware timer 0-3 whose callback fires lazily once its time has come."""

    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id, *, mode=PERIODIC, period=-1, callback=None, hard=False, freq=None, tick_hz=1000):
        if not 0 <= id <= 3:
            raise ValueError("invalid Timer number")
        self._id = id
        self._due = None
        if callback is not None or period != -1 or freq is not None:
            self.init(mode=mode, period=period, callback=callback, freq=freq, tick_hz=tick_hz)

    def __repr__(self):
        return "Timer(%d)" % self._id

    def init(self, *, mode=PERIODIC, period=-1, callback=None, hard=False, freq=None, tick_hz=1000):
        self.deinit()
        if freq is not None:
            self._period = 1000 / freq
        else:
            self._period = (period if period >= 0 else 0xFFFFFFFF) * 1000 / tick_hz
        self._mode = mode
        self._callback = callback
        b = _board()
        self._start = _chip.now(b)
        self._due = self._start + self._period
        _chip.chip(b).timers[self._id] = self

    def deinit(self):
        c = _chip.chip()
        if c.timers.get(self._id) is self:
            del c.timers[self._id]
        self._due = None

    def value(self):
        if self._due is None:
            return 0
        return int((_chip.now(_board()) - self._start) % max(self._period, 1))

    def _fire_if_due(self, now):
        if self._due is None or now < self._due:
            return
        if self._mode == Timer.PERIODIC:
            self._due += self._period
            if self._due <= now:  # missed periods are dropped, as a full schedule queue drops them
                self._due = now + self._period
        else:
            self.deinit()
        if self._callback is not None:
            _chip.schedule(self._callback, self)


def reset():
    _chip.reset(HARD_RESET)


def soft_reset():
    _chip.reset(SOFT_RESET)


def reset_cause():
    _service()
    return _board().reset_cause


def wake_reason():
    return _chip.chip().wake_reason


def unique_id():
    return bytes(_board().mac)


def freq(hz=None):
    _service()
    c = _chip.chip()
    if hz is None:
        return c.freq
    if hz // 1000000 not in (20, 40, 80, 160, 240):
        raise ValueError("frequency must be 20MHz, 40MHz, 80Mhz, 160MHz or 240MHz")
    c.freq = hz // 1000000 * 1000000


def idle():
    _service()


def lightsleep(time_ms=None):
    """Sleeps on the host's clock (a simulated board.clock is advanced by its owner)."""
    _service()
    if time_ms is not None and _board().clock is None:
        _time.sleep(time_ms / 1000)
    _chip.chip().wake_reason = TIMER_WAKE if time_ms is not None else 0
    _service()


def deepsleep(time_ms=None):
    """Resets the board; BoardReset.sleep_ms tells the runner how long to sleep before booting."""
    _service()
    _chip.reset(DEEPSLEEP_RESET, time_ms, 0 if time_ms is None else TIMER_WAKE)
