"""The filter chain of one sensor quantity: which readings to report, and how (sans-I/O).

A spec's "filters" is a list of one-key dicts, e.g.
  [{"median": 5}, {"calibrate": [1.0, -0.5]}, {"round": 1}, {"delta": 0.2}, {"heartbeat": 300}]
and Chain(filters).push(value, now_ms) returns the value to report, or None to report nothing.

Order: the value filters come first and run in list order, each on the output of the one
before; every pushed value goes through them, reported or not:
  median n / average n   the median / mean of the last n values (of as many as there are yet)
  calibrate [a, b]       a * x + b
  clamp [lo, hi]         x held within lo..hi
  round n                x rounded to n decimals
Then the gates, at most one of each, in any order, decide on that final value together:
  delta d                report only when |x - last reported| >= d
  throttle s             report at most once per s seconds
  heartbeat s            report anyway when nothing was reported for s seconds (wins over both)
The first value is always reported. A value filter after a gate is a config error, so a chain
reads the way it runs. now_ms is a time.ticks_ms() value (compared with ticks_diff).
"""

from app.errors import AppError
from compat import ticks_diff

# name -> code; codes below 5 are value filters, in push()'s order of tests
_NAMES = ("median", "average", "calibrate", "clamp", "round", "delta", "throttle", "heartbeat")


class Chain:
    """One quantity's filters; push(value, now_ms) -> value to report or None."""

    def __init__(self, specs=None):
        self.steps = []  # value filters: [code, argument, window (list) or None]
        self.gates = [None, None, None]  # delta, throttle (ms), heartbeat (ms)
        self.last = None  # last value reported
        self.at = 0  # and when (ms)
        if specs is None:
            specs = []
        elif not isinstance(specs, list):
            raise AppError("config_invalid", "'filters' is %r; give a list like [{\"median\": 5}]" % (specs,))
        for i, f in enumerate(specs):
            name = arg = None
            if isinstance(f, dict) and len(f) == 1:
                for name in f:
                    arg = f[name]
            code = _NAMES.index(name) if name in _NAMES else -1
            ok = code >= 0
            if code < 2:  # a window of n values
                ok = ok and type(arg) is int and 1 <= arg <= 64
                why = "a window of 1..64 values"
            elif code < 4:  # two numbers
                ok = isinstance(arg, list) and len(arg) == 2 and all(type(x) in (int, float) for x in arg)
                ok = ok and (code == 2 or arg[0] <= arg[1])
                why = "[a, b] for a * x + b" if code == 2 else "[lo, hi] with lo <= hi"
            elif code == 4:
                ok = type(arg) is int and 0 <= arg <= 9
                why = "0..9 decimals"
            else:
                ok = type(arg) in (int, float) and arg > 0
                why = "a number > 0" + (" (seconds)" if code > 5 else "")
            if ok and code < 5 and self.gates != [None, None, None]:
                ok, why = False, "before delta, throttle and heartbeat: they judge the final value"
            elif ok and code >= 5 and self.gates[code - 5] is not None:
                ok, why = False, "once only"
            if not ok:
                if code < 0:
                    why = "one of " + ", ".join(_NAMES)
                raise AppError("config_invalid", "filter %d %r: expected %s" % (i + 1, f, why))
            if code < 5:
                self.steps.append((code, arg, [] if code < 2 else None))
            else:
                self.gates[code - 5] = arg if code == 5 else int(arg * 1000)
        d, t, h = self.gates
        if t is not None and h is not None and h <= t:
            raise AppError("config_invalid", "filters: heartbeat must be longer than throttle")

    def push(self, x, now_ms):
        """Run value x (measured at now_ms) through the chain: the value to report, or None."""
        for code, arg, win in self.steps:
            if code < 2:
                win.append(x)
                if len(win) > arg:
                    win.pop(0)
                n = len(win)
                if code:
                    x = sum(win) / n
                else:
                    s = sorted(win)
                    x = s[n // 2] if n & 1 else (s[n // 2 - 1] + s[n // 2]) / 2
            elif code == 2:
                x = arg[0] * x + arg[1]
            elif code == 3:
                x = min(max(x, arg[0]), arg[1])
            else:
                x = round(x, arg)
        last = self.last
        if last is not None:
            d, t, h = self.gates
            age = ticks_diff(now_ms, self.at)
            if h is None or age < h:
                if t is not None and age < t:
                    return None
                # a margin for binary fractions: 20.2 - 20.0 is a little under 0.2
                dx = abs(x - last)
                if d is not None and (not dx or dx + 1e-6 * (abs(x) + abs(last)) < d):
                    return None
        self.last = x
        self.at = now_ms
        return x
