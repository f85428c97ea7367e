"""The ESP32 chip state behind the machine fake: pins, watchdog, timers, RTC, IRQs and resets.

Portable (CPython and the MicroPython unix interpreter). State lives on the board (board().pins,
board().machine) so tests and fleets swap boards with simboard.use(). There are no threads: the
watchdog, timers and pin edges the world made are serviced lazily by service().
"""

import sys

import simboard

# Pin modes, pulls and IRQ triggers of the ESP32 port (machine.Pin uses the same numbers).
IN = 1
OUT = 3
OPEN_DRAIN = 7
PULL_UP = 2
IRQ_RISING = 1
IRQ_FALLING = 2
WAKE_LOW = 4
WAKE_HIGH = 5

DEFAULT_FREQ = 160000000  # MicroPython's ESP32 boards boot at 160 MHz


def now(b):
    """Milliseconds on the board's clock (board.clock, else the host's monotonic clock)."""
    return b.clock() if b.clock is not None else simboard.host_ms()


class Chip:
    """What the chip keeps outside the pins; lives in board().machine, made on first use."""

    def __init__(self, t):
        self.freq = DEFAULT_FREQ
        self.adc_bits = [12, 12]  # width of the ADC1 and ADC2 blocks
        self.wdt_timeout = None  # ms once a WDT is created; it cannot be stopped
        self.wdt_deadline = None
        self.timers = {}  # timer id -> machine.Timer
        self.rtc_us = 0  # microseconds since 2000-01-01 at the clock time rtc_at
        self.rtc_at = t
        self.rtc_memory = b""
        self.irq_enabled = True
        self.pending = []  # (handler, arg) held while IRQs are disabled
        self.wake_reason = 0
        self.servicing = False
        self.irq_gpios = ()  # the GPIOs whose pin has an IRQ handler (set_handler keeps it)


class PinState:
    """What one GPIO is doing; lives in board().pins[gpio]. A reset clears it in place (registers:
    on the chip no memory comes or goes)."""

    def __init__(self):
        self.clear()

    def clear(self):
        self.mode = None  # None after reset (not driving), else IN, OUT or OPEN_DRAIN
        self.pull = None
        self.out = 0  # the output register
        self.drive = 2
        self.hold = False  # Pin(hold=True): the pad keeps its level through resets
        self.external = None  # level set by simulate_input(); None = ask the world
        self.driven = None  # level last reported to world.output_changed; None = high impedance
        self.handler = None
        self.trigger = 0
        self.irq_pin = None  # the Pin passed to the handler
        self.last = None  # level at the last edge check
        self.atten = None  # ADC attenuation once the pin served an ADC
        self.pwm = None  # [freq, duty 0-65536, invert] while a PWM drives the pin


def chip(b=None):
    b = b or simboard.board()
    if b.machine is None:
        b.machine = Chip(now(b))
    return b.machine


def pin(b, gpio):
    st = b.pins.get(gpio)
    if st is None:
        st = b.pins[gpio] = PinState()
    return st


def level(b, gpio, st):
    """What gpio_get_level() reads: the output register for OUT, the wire otherwise."""
    if st.mode == OUT or (st.mode == OPEN_DRAIN and st.out == 0):
        return st.out
    wire = st.external if st.external is not None else b.world.input_level(gpio)
    if wire is None:  # floating: the pull resistor decides
        return 1 if st.pull == PULL_UP else 0
    return 1 if wire else 0


def set_handler(b, gpio, st, handler, trigger):
    """Give a pin its IRQ handler (None: none) and trigger; service() looks only at such pins."""
    st.handler = handler
    st.trigger = trigger
    c = chip(b)
    c.irq_gpios = tuple(g for g in b.pins if b.pins[g].handler is not None)


def sense(b, gpio, st):
    """Fire the pin's IRQ handler if its level crossed the trigger since the last look."""
    if st.handler is None:
        return
    new = level(b, gpio, st)
    old, st.last = st.last, new
    if old is None or old == new:
        return
    if st.trigger in (WAKE_LOW, WAKE_HIGH):
        fire = st.trigger == (WAKE_LOW, WAKE_HIGH)[new]
    else:
        fire = st.trigger & (IRQ_FALLING, IRQ_RISING)[new]
    if fire:
        schedule(st.handler, st.irq_pin)


def update(b, gpio, st):
    """Report a change of what the pin drives to world.output_changed, then look for an edge."""
    if st.pwm is None:
        if st.mode == OUT or (st.mode == OPEN_DRAIN and st.out == 0):
            driven = st.out
        else:
            driven = None
        if driven != st.driven:
            st.driven = driven
            b.world.output_changed(gpio, driven)
    sense(b, gpio, st)


def report_pwm(b, gpio, freq, duty):
    hook = getattr(b.world, "pwm_changed", None)  # worlds written before the hook lack it
    if hook is not None:
        hook(gpio, freq, duty)


def simulate_input(gpio, value):
    """Force the level on a GPIO's wire (None gives it back to the world); fires its IRQ."""
    b = simboard.board()
    st = pin(b, gpio)
    st.external = None if value is None else (1 if value else 0)
    sense(b, gpio, st)


def _print_exception(e):
    if hasattr(sys, "print_exception"):
        sys.print_exception(e)
    else:
        import traceback

        traceback.print_exception(type(e), e, e.__traceback__)


def call(handler, arg):
    """Run a scheduled callback: its exception is printed and the program goes on, as on the board."""
    try:
        handler(arg)
    except simboard.BoardReset:
        raise
    except Exception as e:
        _print_exception(e)


def schedule(handler, arg):
    c = chip()
    if c.irq_enabled:
        call(handler, arg)
    else:
        c.pending.append((handler, arg))


def service():
    """Housekeeping at every machine call: watchdog deadline, due timers, edges on IRQ pins."""
    b = simboard.board()
    c = b.machine or chip(b)
    if c.servicing:
        return
    c.servicing = True
    try:
        if c.wdt_deadline is not None or c.timers:
            t = now(b)
            if c.wdt_deadline is not None and t > c.wdt_deadline:
                reset(simboard.WDT_RESET)
            if c.timers:
                for timer in list(c.timers.values()):
                    timer._fire_if_due(t)
        for gpio in c.irq_gpios:  # a tuple: a handler may set handlers
            sense(b, gpio, b.pins[gpio])
    finally:
        c.servicing = False


def check_watchdog():
    """Simulator hook: BoardReset(WDT_RESET) once the WDT is overdue; also fires due timers and IRQs."""
    service()


def on_reset(cause):
    """Leave the chip as a reset with this cause does; every reset raised here calls it first.

    Power-on forgets everything. Soft reset keeps pin levels and the running WDT but drops IRQ
    handlers, PWM and timers. Other resets release every pin not held with hold=True (the world
    hears output_changed(pin, None)), stop the WDT and keep the RTC and its memory.
    """
    b = simboard.board()
    b.reset_cause = cause
    if cause == simboard.PWRON_RESET:
        b.machine = None
    c = chip(b)
    c.timers = {}
    c.irq_gpios = ()  # every handler goes below
    c.irq_enabled = True
    c.pending = []
    c.wake_reason = 0
    if cause != simboard.SOFT_RESET:
        c.wdt_timeout = c.wdt_deadline = None
        c.freq = DEFAULT_FREQ
        c.adc_bits = [12, 12]
    for gpio in list(b.pins):
        st = b.pins[gpio]
        if st.pwm is not None:
            st.pwm = None
            report_pwm(b, gpio, 0, 0)
        st.handler = st.irq_pin = st.last = None
        st.trigger = 0
        kept = cause == simboard.SOFT_RESET or (st.hold and cause != simboard.PWRON_RESET)
        if not kept:
            driven = st.driven
            st.clear()
            if driven is not None:
                b.world.output_changed(gpio, None)


def reset(cause, sleep_ms=None, wake=0):
    """Reset the chip and raise BoardReset(cause) for the runner; sleep_ms is a deepsleep's length."""
    on_reset(cause)
    chip().wake_reason = wake
    r = simboard.BoardReset(cause)
    r.sleep_ms = sleep_ms  # None: until woken
    raise r


def days_since_2000(y, m, d):
    """Days from 2000-01-01 to y-m-d (proleptic Gregorian)."""
    if m <= 2:
        y -= 1
        m += 12
    return 365 * y + y // 4 - y // 100 + y // 400 + (153 * (m - 3) + 2) // 5 + d - 730426


def date_of(days):
    """(year, month, day) of a day count from 2000-01-01; the inverse of days_since_2000."""
    z = days + 730425
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if m <= 2 else 0), m, d
