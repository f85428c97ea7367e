"""Relay bank: boot states, interlock groups, pulses, max-on, link-loss policy, frugal saving.

Sans-I/O: time `now` (ticks_ms) is passed in, pins come from pin_factory (machine.Pin), state
leaves through save(dict). Every output change is appended to self.changes as (name, on, cause),
cause one of command, console, pulse_end, max_on, interlock, failsafe, boot; the app drains it.
set/toggle/pulse return the ms until the requested state is in effect (0: now); tick(now)
applies what is due and returns the ms until the next thing is due (None: nothing is).

What happens, case by case:
- Pins are created at the OFF level (Pin(n, Pin.OUT, value=off)): nothing clicks on at power-up.
  active_low relays are on at level 0.
- Off is never delayed: it also cancels the relay's running pulse and its pending on.
- Interlock group (relays with the same "interlock"): at most one member is ever on. set(x, on)
  switches every other member off at once (cause interlock) and drops any other member's pending
  on (superseded: it stays off). x goes on once the group's dead time (the longest dead_time_ms
  of its members) has passed since a member last went off; until then x is pending (get() says
  "pending": True) and tick() switches it on with the cause of its command. So the latest on
  command of a group wins, also when two come at the same now. Turning another member off leaves
  a pending on alone. boot() counts as every member having just gone off (the constructor drove
  them off; one may have been on before a soft reset), so a boot "on" in a group waits too.
  Boot "on" (or restored on) for several members of a group: the last one in the specs wins.
- Pulse of ms (1..86400000): an off relay goes on (through the interlock; ms counted from when it
  is really on), then off (cause pulse_end); an on relay stays on and goes off after ms. A new
  pulse restarts the count; set(on) during a pulse makes it a plain on.
- max_on_s: a relay goes off (cause max_on) max_on_s after it went on, whatever put it on
  (command, pulse, boot, failsafe); a repeated set(on) does not extend the time.
- toggle: on when the relay is off and not pending, else off.
- Link: boot() and link(now, False) (when the link was up) start a grace of grace_ms; when it
  ends and the link is still down, each relay follows its on_link_loss once: "hold" nothing,
  "off" off, "on" as set(on) (both cause failsafe). link(now, True) cancels a running grace and
  leaves every relay as it is; a policy already applied is not undone.
- Saving spares the flash: only relays with boot "restore" are saved, as {name: on}, each with
  its settled state: on or pending on, and no pulse running (a pulse ends off, so it writes
  nothing). save() is called only when that dict differs from the last saved (or given) one,
  at most once per save_interval_ms; a change inside the interval is saved by tick() when it
  ends. A save that raises OSError is kept in self.save_error and retried after the interval.
"""

from machine import Pin

from app.errors import AppError
from compat import const, ticks_add, ticks_diff

# One list per relay (cheaper than an object each); its slots:
_NAME = const(0)
_PIN = const(1)
_LOW = const(2)  # 1 when active_low: the OFF level
_MAX = const(3)  # max on time in ms, 0 = no limit
_GROUP = const(4)  # [dead time ms, ticks a member last went off] shared by a group, or None
_BOOT = const(5)
_LOSS = const(6)  # on_link_loss
_ON = const(7)
_WANT = const(8)  # cause of a pending on, or None
_AT = const(9)  # ticks it went on
_END = const(10)  # ticks its running pulse ends, or None
_PMS = const(11)  # pulse length waiting for a pending on, or None
_MAX_PULSE = const(86400000)


def _min(a, b):
    return b if a is None or (b is not None and b < a) else a


class Relays:
    """The relays of specs (config "relays"); call boot(now) first, then tick(now) when it asks."""

    def __init__(self, specs, pin_factory=Pin, save=None, saved=None, grace_ms=10000, save_interval_ms=5000):
        self._relays = []
        groups = {}
        for s in specs:
            name = s["name"]
            boot = s.get("boot", "off")
            loss = s.get("on_link_loss", "off")
            if boot not in ("off", "on", "restore"):
                raise AppError(
                    "config_invalid", 'relay %s: boot %r: use "off", "on" or "restore"' % (name, boot)
                )
            if loss not in ("hold", "off", "on"):
                raise AppError(
                    "config_invalid", 'relay %s: on_link_loss %r: use "hold", "off" or "on"' % (name, loss)
                )
            for r in self._relays:
                if r[_NAME] == name:
                    raise AppError(
                        "config_invalid", "relay %s is defined twice: give each relay its own name" % name
                    )
            key = s.get("interlock")
            g = None
            if key is not None:
                g = groups.get(key)
                if g is None:
                    g = groups[key] = [0, None]
                g[0] = max(g[0], s.get("dead_time_ms", 100))
            low = 1 if s.get("active_low") else 0
            pin = pin_factory(s["pin"], Pin.OUT, value=low)
            self._relays.append(
                [name, pin, low, s.get("max_on_s", 0) * 1000, g, boot, loss, False, None, 0, None, None]
            )
        # Only boot "restore" relays are saved: without one there is never anything to save.
        self._save = save if [r for r in self._relays if r[_BOOT] == "restore"] else None
        self._saved = saved
        self._interval = save_interval_ms
        self._next_save = None  # ticks before which no save may happen
        self._grace_ms = grace_ms
        self._grace = None  # ticks the link-loss grace ends
        self._up = True
        self._now = 0
        self.changes = []
        self.save_error = None

    def configure(self, specs):
        """Take new max_on_s and on_link_loss values (config.set) without touching any output."""
        for s in specs:
            for r in self._relays:
                if r[_NAME] == s.get("name"):
                    r[_MAX] = s.get("max_on_s", 0) * 1000
                    r[_LOSS] = s.get("on_link_loss", "off")

    def _find(self, name):
        for r in self._relays:
            if r[_NAME] == name:
                return r
        known = ", ".join(r[_NAME] for r in self._relays) or "none are configured"
        raise AppError("unknown_relay", "no relay %r; known relays: %s" % (name, known))

    def _off(self, r, now, cause):
        r[_WANT] = r[_END] = r[_PMS] = None
        if r[_ON]:
            r[_ON] = False
            r[_PIN].value(r[_LOW])
            if r[_GROUP]:
                r[_GROUP][1] = now
            self.changes.append((r[_NAME], False, cause))

    def _go(self, r, now, cause):
        # An off relay goes on now (the interlock has been cleared).
        ms = r[_PMS]
        r[_WANT] = r[_PMS] = None
        r[_END] = None if ms is None else ticks_add(now, ms)
        r[_ON] = True
        r[_AT] = now
        r[_PIN].value(1 - r[_LOW])
        self.changes.append((r[_NAME], True, cause))

    def _on(self, r, now, cause, ms=None):
        g = r[_GROUP]
        if g:
            for o in self._relays:
                if o[_GROUP] is g and o is not r:
                    self._off(o, now, "interlock")
        if r[_ON]:
            r[_END] = None if ms is None else ticks_add(now, ms)
            return 0
        r[_PMS] = ms
        wait = ticks_diff(ticks_add(g[1], g[0]), now) if g and g[1] is not None else 0
        if wait > 0:
            r[_WANT] = cause
            return wait
        self._go(r, now, cause)
        return 0

    def _left(self, r, now):
        # (ms until a pulse or max_on switches r off, cause) or (None, None)
        left = cause = None
        if r[_ON]:
            if r[_END] is not None:
                left, cause = ticks_diff(r[_END], now), "pulse_end"
            if r[_MAX]:
                m = ticks_diff(ticks_add(r[_AT], r[_MAX]), now)
                if left is None or m < left:
                    left, cause = m, "max_on"
        return left, cause

    def _persist(self, now):
        # Saves when due; returns ms until a held-back save is due, or None.
        if not self._save:
            return None
        state = {}
        for r in self._relays:
            if r[_BOOT] == "restore":
                state[r[_NAME]] = (r[_ON] or r[_WANT] is not None) and r[_END] is None and r[_PMS] is None
        if not state or state == self._saved:
            return None
        if self._next_save is not None:
            wait = ticks_diff(self._next_save, now)
            if wait > 0:
                return wait
        self._next_save = ticks_add(now, self._interval)
        try:
            self._save(state)
        except OSError as e:
            self.save_error = e
            return self._interval
        self._saved = state
        self.save_error = None
        return None

    def boot(self, now):
        """Drive each relay to its boot state ("restore": the saved state, else off); link is down."""
        self._now = now
        for r in self._relays:
            if r[_GROUP]:
                r[_GROUP][1] = now
        saved = self._saved if isinstance(self._saved, dict) else {}
        for r in self._relays:
            if r[_BOOT] == "on" or (r[_BOOT] == "restore" and saved.get(r[_NAME]) is True):
                self._on(r, now, "boot")
        self._up = False
        self._grace = ticks_add(now, self._grace_ms)
        self._persist(now)

    def set(self, name, on, now, cause="command"):
        """Switch a relay on (True) or off (False); returns ms until that is in effect."""
        r = self._find(name)
        if on is not True and on is not False:
            raise AppError("bad_params", "relay %s: on must be true or false, not %r" % (name, on))
        self._now = now
        wait = self._on(r, now, cause) if on else self._off(r, now, cause) or 0
        self._persist(now)
        return wait

    def toggle(self, name, now, cause="command"):
        """Switch on an off relay that is not pending, else off; returns ms until in effect."""
        r = self._find(name)
        return self.set(name, not (r[_ON] or r[_WANT] is not None), now, cause)

    def pulse(self, name, ms, now, cause="command"):
        """On for ms, then off (cause pulse_end); returns ms until the relay is on."""
        r = self._find(name)
        if type(ms) is not int or not 0 < ms <= _MAX_PULSE:
            raise AppError(
                "bad_params",
                "pulse of relay %s: ms %r: give whole milliseconds from 1 to %d" % (name, ms, _MAX_PULSE),
            )
        self._now = now
        wait = self._on(r, now, cause, ms)
        self._persist(now)
        return wait

    def link(self, now, up):
        """The server link came up (cancels the grace) or went down (starts it)."""
        self._now = now
        if up:
            self._grace = None
        elif self._up:
            self._grace = ticks_add(now, self._grace_ms)
        self._up = up

    def tick(self, now):
        """Apply what is due at now; returns ms until the next thing is due, or None."""
        self._now = now
        if self._grace is not None and ticks_diff(self._grace, now) <= 0:
            self._grace = None
            for r in self._relays:
                if r[_LOSS] == "off":
                    self._off(r, now, "failsafe")
                elif r[_LOSS] == "on":
                    self._on(r, now, "failsafe")
        nxt = None if self._grace is None else ticks_diff(self._grace, now)
        for r in self._relays:
            left, cause = self._left(r, now)
            if left is not None and left <= 0:
                self._off(r, now, cause)
                left = None
            g = r[_GROUP]
            if r[_WANT] is not None:
                left = ticks_diff(ticks_add(g[1], g[0]), now)
                if left <= 0:
                    self._go(r, now, r[_WANT])
                    left = self._left(r, now)[0]
            nxt = _min(nxt, left)
        return _min(nxt, self._persist(now))

    def get(self, name, now=None):
        """{"name", "on", "pending": True or None, "until": ms to an automatic off or None}."""
        r = self._find(name)
        left = self._left(r, self._now if now is None else now)[0]
        return {
            "name": r[_NAME],
            "on": r[_ON],
            "pending": True if r[_WANT] is not None else None,
            "until": None if left is None else max(0, left),
        }

    def all(self, now=None):
        """get() of every relay, in the order of the specs."""
        return [self.get(r[_NAME], now) for r in self._relays]
