"""Scenario files: a world, timed steps and expectations, run against a simulated board.

    python -m simulator.scenario scenarios/greenhouse.json [--runtime micropython] [--check]

A scenario (format in docs/scenarios.md) names a world spec and a list of steps. The board
process gets the scenario through SIM_WORLD and its world applies the set/hold/trace/fault steps
itself as its clock passes them; with SIM_WORLD_TRACE=1 it prints "~world {json}" lines (pin and
load changes, values). This runner only reads the board's stdout: it checks each expect step
against the console lines and that trace, by its deadline, and reports what it saw.
"""

import argparse
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from simulator import worldspec
from simulator.__main__ import (
    DEFAULT_BOARD,
    ESP32_HEAP,
    FIRMWARE,
    SimulatorError,
    board_command,
    load_board,
    prepare_flash,
)

SCENARIO_KEYS = ("name", "description", "board", "seed", "world", "steps", "timeout", "config")
EXPECT_KINDS = ("console", "console_re", "load", "pin", "value")
TOLERANCE_S = 0.3  # real seconds a console line's time may be off (pipes, scheduling)
BOOT_S = 20.0  # real seconds a board may take to report its world


class ScenarioError(Exception):
    """A bad scenario file or argument: the message says which and why."""


class Expectation:
    """One expect step: what must (or, with never, must not) be seen between start and deadline."""

    def __init__(self, number, step, start):
        body = step["expect"]
        self.number = number
        self.kind = [k for k in EXPECT_KINDS if k in body][0]
        self.body = body
        self.never = bool(step.get("never", False))
        self.start = start
        self.deadline = float(step["by"]) if "by" in step else start + step["within"]
        self.regex = re.compile(body["console_re"]) if self.kind == "console_re" else None
        self.status = None  # None while pending, then "passed" or "failed"
        self.seen_at = None  # simulated time of the sighting
        self.detail = ""
        self.samples = []  # what was seen in the window, for the report

    def describe(self):
        b = self.body
        if self.kind == "console":
            what = "a console line containing %r" % b["console"]
        elif self.kind == "console_re":
            what = "a console line matching /%s/" % b["console_re"]
        elif self.kind == "load":
            what = "load %r %s" % (b["load"], "on" if b["on"] else "off")
        elif self.kind == "pin":
            what = "GPIO %d at level %s" % (b["pin"], b["level"])
        else:
            bounds = []
            if "above" in b:
                bounds.append("above %g" % b["above"])
            if "below" in b:
                bounds.append("below %g" % b["below"])
            what = "%s %s" % (b["value"], " and ".join(bounds))
        when = "between t=%gs and t=%gs" % (self.start, self.deadline)
        return ("never " if self.never else "") + what + " " + when

    def matches_line(self, line):
        if self.kind == "console":
            return self.body["console"] in line
        return self.regex.search(line) is not None

    def matches_state(self, st):
        b = self.body
        if self.kind == "load":
            return st.loads.get(b["load"]) == b["on"]
        if self.kind == "pin":
            return b["pin"] in st.pins and st.pins[b["pin"]] == b["level"]
        v = st.values.get(b["value"])
        if v is None:
            return False
        return ("above" not in b or v > b["above"]) and ("below" not in b or v < b["below"])

    def settle(self, passed, at, detail):
        self.status = "passed" if passed else "failed"
        self.seen_at = at
        self.detail = detail


class _State:
    # What the trace says about the board's world: load states, pin levels, latest values.
    def __init__(self):
        self.loads = {}
        self.pins = {}
        self.values = {}

    def apply(self, ev):
        kind = ev.get("ev")
        if kind == "start":
            for name in ev.get("loads", {}):
                self.loads[name] = False
        elif kind == "pin":
            self.pins[ev["pin"]] = ev["level"]
        elif kind == "load":
            self.loads[ev["name"]] = ev["on"]
        elif kind == "state":
            self.values.update(ev["v"])

    def get(self, exp):
        """What the expectation looks at, now (None: not known yet)."""
        b = exp.body
        if exp.kind == "load":
            return self.loads.get(b["load"])
        if exp.kind == "pin":
            return self.pins.get(b["pin"])
        return self.values.get(b["value"])

    def show(self, exp, value):
        b = exp.body
        if exp.kind == "load":
            return "load %r was %s" % (b["load"], "on" if value else "off")
        if exp.kind == "pin":
            return "GPIO %d was %s" % (b["pin"], "released" if value is None else value)
        return "%s was %s" % (b["value"], "not reported" if value is None else value)


class Scenario:
    """A checked scenario file: its world, steps and expectations (times in simulated seconds)."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        try:
            d = worldspec.read_json(path, "scenario")
        except worldspec.SpecError as e:
            raise ScenarioError(str(e))
        if not isinstance(d, dict):
            raise ScenarioError("%s: a scenario is a JSON object with world and steps" % path)
        for k in d:
            if k not in SCENARIO_KEYS:
                raise ScenarioError(
                    "%s: unknown key %r (expected one of %s)" % (path, k, ", ".join(SCENARIO_KEYS))
                )
        if "steps" not in d:
            raise ScenarioError("%s: a scenario needs steps" % path)
        self.name = d.get("name") or os.path.splitext(os.path.basename(path))[0]
        try:
            seed, self.spec, self.steps = worldspec.check_file(path, check_expect)
        except worldspec.SpecError as e:
            raise ScenarioError(str(e))
        self.seed = 1 if seed is None else seed
        self.scale = float(self.spec.get("time", {}).get("scale", 1))
        self.board = d.get("board", DEFAULT_BOARD)
        if not os.path.isabs(self.board):
            self.board = os.path.join(os.path.dirname(self.path), self.board)
        self.config = d.get("config")  # the board's config.json, as an object
        if self.config is not None and not isinstance(self.config, dict):
            raise ScenarioError(
                "%s: config must be an object: the board's config.json (docs/config.md)" % path
            )
        self.timeout = d.get("timeout")
        if self.timeout is not None and not (_num(self.timeout) and self.timeout > 0):
            raise ScenarioError("%s: timeout must be real seconds > 0" % path)
        loads = [
            x.get("name", "%s%d" % (x.get("kind", "generic"), i + 1))
            for i, x in enumerate(self.spec.get("loads", []))
        ]
        self.expectations = []
        self.end = 0.0  # simulated time of the last step or deadline
        for t, number, kind, step in worldspec.simworld.timeline(self.steps):
            self.end = max(self.end, t)
            if kind == "expect":
                e = Expectation(number, step, t)
                if e.kind == "load" and e.body["load"] not in loads:
                    known = ", ".join(loads) or "none"
                    raise ScenarioError(
                        "%s: step %d (expect): no load named %r (known: %s)"
                        % (path, number, e.body["load"], known)
                    )
                if e.kind == "value" and e.body["value"] not in worldspec.check_spec(self.spec):
                    raise ScenarioError(
                        "%s: step %d (expect): unknown quantity %r" % (path, number, e.body["value"])
                    )
                self.expectations.append(e)
                self.end = max(self.end, e.deadline)

    def world_file(self, folder):
        """Write the scenario as the board's world reads it (world inline, seed fixed); its path."""
        path = os.path.join(folder, "world.json")
        with open(path, "w") as f:
            json.dump({"seed": self.seed, "world": self.spec, "steps": self.steps}, f)
        return path


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_expect(where, step):
    """SpecError unless an expect step names one condition and a deadline."""
    body = step["expect"]
    if not isinstance(body, dict):
        raise worldspec.SpecError('%s: expect needs an object such as {"console": "text"}' % where)
    kinds = [k for k in EXPECT_KINDS if k in body]
    if len(kinds) != 1:
        raise worldspec.SpecError("%s: expect needs exactly one of %s" % (where, ", ".join(EXPECT_KINDS)))
    kind = kinds[0]
    allowed = {
        "console": ("console",),
        "console_re": ("console_re",),
        "load": ("load", "on"),
        "pin": ("pin", "level"),
        "value": ("value", "above", "below"),
    }[kind]
    for k in body:
        if k not in allowed:
            raise worldspec.SpecError("%s: unknown key %r in a %s expectation" % (where, k, kind))
    if kind in ("console", "console_re") and not (isinstance(body[kind], str) and body[kind]):
        raise worldspec.SpecError("%s: %s must be a non-empty string" % (where, kind))
    if kind == "console_re":
        try:
            re.compile(body["console_re"])
        except re.error as e:
            raise worldspec.SpecError("%s: console_re is not a valid regular expression: %s" % (where, e))
    if kind == "load" and not (isinstance(body["load"], str) and isinstance(body.get("on"), bool)):
        raise worldspec.SpecError("%s: a load expectation needs load (a name) and on (true or false)" % where)
    if kind == "pin" and not (isinstance(body["pin"], int) and body.get("level", 2) in (0, 1, None)):
        raise worldspec.SpecError("%s: a pin expectation needs pin (GPIO) and level (0, 1 or null)" % where)
    if kind == "value":
        if not isinstance(body["value"], str) or not ("above" in body or "below" in body):
            raise worldspec.SpecError(
                "%s: a value expectation needs value (a quantity) and above or below" % where
            )
        if not all(_num(body[k]) for k in ("above", "below") if k in body):
            raise worldspec.SpecError("%s: above and below must be numbers" % where)
    if ("within" in step) == ("by" in step):
        raise worldspec.SpecError(
            "%s: expect needs a deadline: within (seconds from its time) or by (a time)" % where
        )
    limit = step.get("within", step.get("by"))
    if not (_num(limit) and limit >= 0):
        raise worldspec.SpecError("%s: within and by are seconds >= 0" % where)
    if not isinstance(step.get("never", False), bool):
        raise worldspec.SpecError("%s: never must be true or false" % where)


class ScenarioResult:
    """How a run went: each expectation's outcome, the console, the board's exit."""

    def __init__(self, scenario, runtime):
        self.name = scenario.name
        self.runtime = runtime
        self.expectations = scenario.expectations
        self.console = []  # (simulated time, line) of every console line
        self.trace = []  # every ~world event, decoded
        self.stderr = ""
        self.returncode = None
        self.problem = None  # why the run stopped early, if it did

    @property
    def ok(self):
        return self.problem is None and all(e.status == "passed" for e in self.expectations)

    def failures(self):
        return [e for e in self.expectations if e.status != "passed"]

    def report(self):
        """A human report: one line per expectation, details under the failed ones."""
        passed = sum(1 for e in self.expectations if e.status == "passed")
        head = "scenario %s (%s): %d expectation(s), %d passed, %d failed" % (
            self.name,
            self.runtime,
            len(self.expectations),
            passed,
            len(self.expectations) - passed,
        )
        lines = [head]
        if self.problem:
            lines.append("  problem: " + self.problem)
        for e in self.expectations:
            mark = "PASS" if e.status == "passed" else "FAIL"
            lines.append("  %s step %d: expected %s" % (mark, e.number, e.describe()))
            if e.detail:
                lines.append("       " + e.detail)
        if not self.ok and self.stderr.strip():
            lines.append("  board stderr (last lines):")
            lines += ["    " + x for x in self.stderr.strip().splitlines()[-8:]]
        return "\n".join(lines)


class _Clock:
    # The board's simulated time as seen from here: anchored on its trace lines.
    def __init__(self, scale):
        self.scale = scale
        self.anchor = None  # (simulated t, host monotonic time)
        self.last = 0.0

    def mark(self, t, host):
        self.anchor = (t, host)
        self.last = max(self.last, t)

    def now(self, host=None):
        if self.anchor is None:
            return None
        host = time.monotonic() if host is None else host
        self.last = max(self.last, self.anchor[0] + (host - self.anchor[1]) * self.scale)
        return self.last


def _reader(stream, q):
    for line in stream:
        q.put((time.monotonic(), line.rstrip("\r\n")))
    q.put((time.monotonic(), None))


def run_scenario(
    path,
    runtime="cpython",
    firmware=FIRMWARE,
    timeout=None,
    board_id="sim-0001",
    heap=ESP32_HEAP,
    flash=None,
    echo=None,
):
    """Boot a board with the scenario's world, check its expect steps; a ScenarioResult.

    timeout: real seconds for the whole run (default: the scenario's, else its last deadline
    at its time scale plus BOOT_S). echo(line) sees every console line as it comes. Raises
    ScenarioError for a bad file or argument.
    """
    sc = Scenario(path)
    if not os.path.isfile(os.path.join(firmware, "main.py")):
        raise ScenarioError("firmware folder %s has no main.py" % firmware)
    try:
        board = load_board(sc.board)
    except SimulatorError as e:
        raise ScenarioError(str(e))
    tmp = tempfile.mkdtemp(prefix="scenario-")
    try:
        flash = flash or os.path.join(tmp, "flash")
        prepare_flash(flash, board, config_data=sc.config)
        try:
            cmd, env = board_command(runtime, flash, board_id, sc.seed, heap, firmware, world=True)
        except SimulatorError as e:
            raise ScenarioError(str(e))
        env["SIM_WORLD"] = sc.world_file(tmp)
        env["SIM_WORLD_TRACE"] = "1"
        if timeout is None:
            timeout = sc.timeout or sc.end / sc.scale + BOOT_S
        return _run(sc, runtime, cmd, env, timeout, echo)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(sc, runtime, cmd, env, timeout, echo):
    result = ScenarioResult(sc, runtime)
    # stdin stays open and silent: it is the board's REPL, which ends when its input ends.
    pipe = subprocess.PIPE
    proc = subprocess.Popen(cmd, env=env, stdin=pipe, stdout=pipe, stderr=pipe, text=True, bufsize=1)
    lines = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    errors = []
    threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True).start()
    clock = _Clock(sc.scale)
    state = _State()
    started = time.monotonic()
    tol = TOLERANCE_S * sc.scale
    ended = False
    try:
        while any(e.status is None for e in sc.expectations) or not sc.expectations and clock.last < sc.end:
            try:
                host, line = lines.get(timeout=0.05)
            except queue.Empty:
                host, line = time.monotonic(), ""
            if line is None:
                ended = True
                break
            ev = _decode(line)
            if ev is not None:
                _event(sc, clock, state, result, ev, host)
            now = clock.now(host)
            if line and ev is None:
                result.console.append((now or 0.0, line))
                if echo is not None:
                    echo(line)
                if now is not None:
                    _line(sc, line, now, tol)
            if now is None:
                if host - started > BOOT_S:
                    result.problem = (
                        "the board never reported its world (no ~world start line in %gs)" % BOOT_S
                    )
                    break
                continue
            _tick(sc, state, now, tol)
            if host - started > timeout:
                result.problem = "the scenario timed out after %gs (real) at t=%.1fs" % (timeout, now)
                break
    finally:
        _stop(proc)
    result.returncode = proc.returncode
    time.sleep(0.05)
    result.stderr = "".join(errors)
    if ended and any(e.status is None for e in sc.expectations):
        result.problem = "the board stopped (exit code %s) at t=%.1fs" % (proc.returncode, clock.last)
    for e in sc.expectations:
        if e.status is None:
            _give_up(e, result, state)
    return result


def _stop(proc):
    # End of input ends the board's REPL; Ctrl-C stops a running main.py; then, if need be, kill.
    for stop in (proc.stdin.close, lambda: proc.send_signal(signal.SIGINT), proc.kill):
        if proc.poll() is not None:
            break
        try:
            stop()
            proc.wait(2)
        except (OSError, subprocess.TimeoutExpired):
            pass
    proc.wait()


def _decode(line):
    # The event of a "~world {json}" trace line, or None for a console line.
    if not line.startswith("~world "):
        return None
    try:
        ev = json.loads(line[7:])
    except ValueError:
        return None
    return ev if isinstance(ev, dict) else None


def _event(sc, clock, state, result, ev, host):
    result.trace.append(ev)
    if ev.get("ev") != "step" and _num(ev.get("t")):
        clock.mark(float(ev["t"]), host)
    state.apply(ev)
    t = ev.get("t", 0.0)
    for e in sc.expectations:
        if e.status is None and e.kind in ("load", "pin", "value") and e.start <= t <= e.deadline:
            _look(e, state, t)


def _look(e, state, t):
    value = state.get(e)
    if not e.samples or e.samples[-1][1] != value:  # keep the changes only
        e.samples.append((t, value))
    if e.matches_state(state):
        e.settle(not e.never, t, "seen at t=%.1fs: %s" % (t, state.show(e, value)))


def _line(sc, line, now, tol):
    for e in sc.expectations:
        if (
            e.status is None
            and e.kind in ("console", "console_re")
            and e.start - tol <= now <= e.deadline + tol
        ):
            e.samples.append((now, line))
            if e.matches_line(line):
                e.settle(not e.never, now, "seen at t=%.1fs: %r" % (now, line))


def _tick(sc, state, now, tol):
    for e in sc.expectations:
        if e.status is not None:
            continue
        if e.kind in ("load", "pin", "value") and e.start <= now <= e.deadline:
            _look(e, state, now)
        if now > e.deadline + tol:
            if e.never:
                e.settle(True, None, "not seen by t=%.1fs" % e.deadline)
            else:
                e.settle(False, None, _missed(e, state))


def _missed(e, state):
    if e.kind in ("console", "console_re"):
        if not e.samples:
            return "not seen: no console output in that window"
        seen = "; ".join("t=%.1fs %r" % s for s in e.samples[-5:])
        return "not seen; the last console lines in the window: " + seen
    if e.kind == "value":
        values = [v for _, v in e.samples if v is not None]
        if not values:
            return "not seen: no value of %s reported in the window" % e.body["value"]
        return "not seen: %s was %g to %g in the window" % (e.body["value"], min(values), max(values))
    if not e.samples:
        return "not seen: %s" % state.show(e, state.get(e))
    if len(e.samples) == 1:
        return "not seen: %s throughout the window" % state.show(e, e.samples[0][1])
    changes = ", then ".join("%s at t=%.1fs" % (state.show(e, v), t) for t, v in e.samples[-5:])
    return "not seen: " + changes


def _give_up(e, result, state):
    why = result.problem or "the run ended"
    if e.never:
        e.settle(False, None, "undecided: %s before t=%.1fs" % (why, e.deadline))
    else:
        e.settle(False, None, "%s; %s" % (why, _missed(e, state)))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m simulator.scenario", description=__doc__.splitlines()[0])
    ap.add_argument("scenario", help="scenario file (JSON)")
    ap.add_argument("--runtime", choices=("cpython", "micropython"), default="cpython")
    ap.add_argument("--firmware", default=FIRMWARE, help="the folder whose boot.py and main.py run")
    ap.add_argument("--timeout", type=float, help="real seconds for the whole run")
    ap.add_argument("--check", action="store_true", help="only check the file")
    ap.add_argument("-v", "--verbose", action="store_true", help="echo the board's console")
    a = ap.parse_args(argv)
    try:
        if a.check:
            sc = Scenario(a.scenario)
            print("%s: %d step(s), %d expectation(s), OK" % (sc.name, len(sc.steps), len(sc.expectations)))
            return 0
        echo = (lambda line: print("  | " + line)) if a.verbose else None
        result = run_scenario(a.scenario, a.runtime, a.firmware, a.timeout, echo=echo)
    except ScenarioError as e:
        print("scenario: " + str(e), file=sys.stderr)
        return 2
    print(result.report())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
