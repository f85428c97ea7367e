"""Simulated boards under supervision: one board or a fleet, each in a process of its own.

Supervisor starts each Board's process (simulator/boardproc.py, CPython or MicroPython) at a
bounded rate, relays its console (each line prefixed by the board id in a fleet; quiet: only
start/stop/crash lines and a periodic summary) and boots a board again when its process ends
unexpectedly, as a board reboots:
- killed by SIGKILL (a power cut: `power write` armed on the board, or `kill -9 PID`): power
  is back after POWER_OFF_S, power-on reset;
- any other end but exit code 0 is a crash: hard reset (as after a panic, rst:0xc);
the delay before booting again doubles with each quick crash (RESTART_DELAY_S to RESTART_MAX_S),
so a board in a crash loop restarts at a bounded rate. Exit code 0 (main.py ended and the REPL
found no console input) is the board going idle: it is not restarted.

Faults come from the control socket (ctl.py), `--at`, standard input or a test (command()):
power loss and resets are done here, by PID; world faults and mid-write power cuts go to the
board through its control file (FLASH.ctl, read by fakes/simctl.py), which also gives a board
that boots again the faults still in force. stop() ends every board by PID: SIGINT (the board
prints its REPL banner), then SIGKILL after a grace period.
"""

import fnmatch
import json
import os
import selectors
import shlex
import signal
import subprocess
import time

from simulator import ctl

RESTART_DELAY_S = 0.2  # before booting again after a crash; doubles with each quick crash
RESTART_MAX_S = 30.0
STABLE_S = 30.0  # a board that ran this long before it crashed is not in a crash loop
POWER_OFF_S = 0.5  # how long a power cut lasts unless said otherwise
SUMMARY_S = 10.0  # quiet mode: a summary line this often
STATUS_WAIT_S = 2.0  # how long `status` waits for the boards' own answer
CAUSE_NAMES = {ctl.PWRON_RESET: "power-on reset", ctl.HARD_RESET: "hard reset", ctl.WDT_RESET: "watchdog"}


class Board:
    """One supervised board: identity, flash folder, process, faults in force."""

    def __init__(self, number, board_id, seed, flash):
        self.number = number
        self.id = board_id
        self.seed = seed
        self.flash = os.path.abspath(flash)
        self.ctl = self.flash + ".ctl"  # faults for the board (fakes/simctl.py reads it)
        self.proc = None
        self.state = "waiting"  # waiting, running, off, down (until its restart), ended, stopped
        self.due = None  # time.monotonic() of its next boot (None: not planned)
        self.cause = ctl.PWRON_RESET  # reset cause of the next (or current) boot
        self.boots = 0
        self.restarts = 0  # boots after an unexpected end
        self.crashes = 0  # quick crashes in a row
        self.first = None  # when it first booted
        self.started = None  # when its current process started
        self.faults = []  # world faults in force, in order
        self.cut = None  # the armed mid-write power cut
        self.kill = None  # why the supervisor ended the process: "stop", ("power", s), ("reset", cause)
        self.partial = b""  # console output after the last newline
        self.lines = 0  # console lines relayed

    def info(self):
        """What the supervisor knows of the board, as a JSON-ready dict."""
        d = {"board": self.id, "state": self.state, "pid": self.proc.pid if self.proc else None}
        d.update(seed=self.seed, flash=self.flash, boots=self.boots, restarts=self.restarts)
        d.update(reset_cause=self.cause, faults=self.faults, armed=self.cut)
        if self.state == "running":
            d["up_s"] = round(time.monotonic() - self.started, 1)
        return d


class Supervisor:
    """Runs boards: command(board, cause, elapsed_ms) gives (argv, env) of a board's process.

    prefix: console lines start with the board id (a fleet); quiet: only the simulator's own
    lines and a summary; pipe False: boards write to this process's stdout directly (one board,
    no prefix). spec: the boards' world spec (None: no world), for checking world faults.
    """

    def __init__(
        self,
        boards,
        command,
        out,
        prefix=False,
        quiet=False,
        pipe=True,
        start_rate=50.0,
        spec=None,
        forks=None,
    ):
        self.boards = boards
        self.ids = dict((b.id, b) for b in boards)
        self.make_command = command
        self.out = out
        self.prefix = prefix
        self.quiet = quiet
        self.pipe = pipe
        self.start_rate = start_rate
        self.spec = spec
        self.forks = forks  # a fleetfork.ForkServer that forks the boards, or None: plain processes
        self.sel = selectors.DefaultSelector()
        self.server = None
        self.at = []  # (time.monotonic(), request line) scheduled with --at
        self.pending = []  # status answers waiting for the boards: [boards, n, deadline, conn]
        self.ctl_socks = set()  # the control sockets registered with sel
        self.status_n = 0
        self.t0 = None
        self.next_summary = None
        self.summary_every = SUMMARY_S
        self.summary_lines = 0
        self.stopping = False

    # ---- output

    def say(self, board, text):
        """One line of the simulator's own (not the board's console)."""
        who = "%s: " % board.id if board is not None and len(self.boards) > 1 else ""
        self.write("simulator: %s%s\n" % (who, text))

    def write(self, text):
        if self.out is not None:
            self.out.write(text)
            self.out.flush()

    # ---- life cycle

    def serve(self, port=0):
        """Listen for control requests on 127.0.0.1:port (0: a free port); the port."""
        self.server = ctl.Server(self._request, port)
        self._sync_ctl()
        return self.server.port

    def read_stdin(self):
        """Take control commands typed on standard input (plain mode)."""
        self.sel.register(0, selectors.EVENT_READ, ("stdin", None))

    def schedule(self, seconds, line):
        """Run a control request line that many seconds after start (0: before the boards boot)."""
        self.at.append((seconds, line))

    def start(self):
        """Plan every board's first boot, start_rate boards a second."""
        now = self.t0 = time.monotonic()
        self.at = sorted((now + s, line) for s, line in self.at)
        self.next_summary = now + self.summary_every
        for i, b in enumerate(self.boards):
            b.state, b.due = "waiting", now + i / self.start_rate
        self._scheduled(now)  # --at 0: faults in force from the first boot

    def active(self):
        """True while a board runs or will boot again."""
        return any(b.state in ("waiting", "running", "off", "down") for b in self.boards)

    def run(self, duration=0):
        """start(), then step() until duration passes (0: until no board is left to run)."""
        self.start()
        deadline = self.t0 + duration if duration else None
        while self.active() and (deadline is None or time.monotonic() < deadline):
            self.step(0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic())))

    def step(self, timeout=0.1):
        """Relay output, serve control requests, start, restart and watch boards (one round)."""
        now = time.monotonic()
        self._scheduled(now)
        for b in self.boards:
            if b.due is not None and b.due <= now and not self.stopping:
                b.due = None
                self._spawn(b)
        dues = [b.due for b in self.boards if b.due is not None] + [t for t, _ in self.at[:1]]
        if dues:
            timeout = max(0.0, min(timeout, min(dues) - now))
        self._sync_ctl()
        for key, _ in self.sel.select(timeout):
            kind, obj = key.data
            if kind == "board":
                self._read(obj)
            elif kind == "ctl":
                self.server.ready(obj)
            else:
                self._typed()
        for b in self.boards:
            if b.proc is not None and (not self.pipe or b.partial is None):
                rc = b.proc.poll()
                if rc is not None:
                    self._ended(b, rc)
        self._answer_status(time.monotonic())
        if self.quiet and time.monotonic() >= self.next_summary:
            self._summary()

    def stop(self, grace=3.0):
        """End every board by PID: SIGINT, then SIGKILL for those still running after grace s."""
        self.stopping = True
        for b in self.boards:
            b.due = None
            if b.proc is not None:
                b.kill = "stop"
                self._signal(b, signal.SIGINT)
            elif b.state in ("waiting", "off", "down"):
                b.state = "stopped"
        deadline = time.monotonic() + grace
        while any(b.proc is not None for b in self.boards) and time.monotonic() < deadline:
            self.step(0.05)
        for b in self.boards:
            if b.proc is not None:
                self._signal(b, signal.SIGKILL)
                b.proc.wait()
                self._ended(b, b.proc.returncode)
        if self.server is not None:
            self.server.shutdown()
            self.server = None
        if self.forks is not None:
            self.forks.close()
        self.sel.close()

    # ---- processes

    def _spawn(self, b):
        now = time.monotonic()
        if b.first is None:
            b.first = now
        with open(b.ctl, "w") as f:  # the faults in force, applied before boot.py runs
            for fault in b.faults + ([b.cut] if b.cut else []):
                f.write(json.dumps(fault) + "\n")
        argv, env = self.make_command(b, b.cause, int((now - b.first) * 1000))
        env["SIM_CTL"] = b.ctl
        try:
            b.proc = self._launch(b, argv, env)
        except OSError as e:
            b.state = "ended"
            self.say(b, "cannot start the board: %s" % (e.strerror or e))
            return
        b.state, b.started, b.kill = "running", now, None
        b.boots += 1
        what = "started" if b.boots == 1 else "boots again (%s)" % CAUSE_NAMES.get(b.cause, b.cause)
        self.say(b, "%s, pid %d" % (what, b.proc.pid))

    def _launch(self, b, argv, env):
        if self.forks is not None:
            proc = self.forks.spawn(argv, env)
        else:
            out = subprocess.PIPE if self.pipe else None
            err = subprocess.STDOUT if self.pipe else None
            proc = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        if self.pipe:
            os.set_blocking(proc.stdout.fileno(), False)
            self.sel.register(proc.stdout, selectors.EVENT_READ, ("board", b))
            b.partial = b""
        return proc

    def _signal(self, b, sig):
        try:
            os.kill(b.proc.pid, sig)
        except ProcessLookupError:
            pass

    def _read(self, b):
        try:
            data = os.read(b.proc.stdout.fileno(), 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the process is ending: step() polls it from now on
            self.sel.unregister(b.proc.stdout)
            if b.partial:
                self._console(b, b.partial + b"\n")
            b.partial = None
            return
        data = b.partial + data
        end = data.rfind(b"\n") + 1
        b.partial = data[end:]
        if end:
            self._console(b, data[:end])

    def _console(self, b, data):
        n = data.count(b"\n")
        b.lines += n
        self.summary_lines += n
        if self.quiet:
            return
        text = data.decode("utf-8", "replace")
        if self.prefix:
            head = b.id + " | "
            text = "".join(head + line + "\n" for line in text.split("\n")[:-1])
        self.write(text)

    def _ended(self, b, rc):
        now = time.monotonic()
        if self.pipe and b.proc.stdout is not None:
            if b.partial is not None:
                self.sel.unregister(b.proc.stdout)
            b.proc.stdout.close()
        b.proc = None
        ran = now - b.started
        why, b.kill = b.kill, None
        if why == "stop":
            b.state = "stopped"
            self.say(b, "stopped")
            return
        b.state = "down"
        if why is not None and why[0] == "power":
            b.state, b.cause = "off", ctl.PWRON_RESET
            b.due = None if why[1] is None else now + why[1]
            back = "until `power on`" if why[1] is None else "for %g s" % why[1]
            self.say(b, "power cut %s" % back)
            return
        if why is not None:
            b.cause, b.due = why[1], now
            self.say(b, "reset (%s)" % CAUSE_NAMES[why[1]])
            return
        if rc == 0:
            b.state = "ended"
            self.say(b, "main.py ended and the board's REPL has no console here: the board is idle")
            return
        b.restarts += 1
        if rc == -signal.SIGKILL and b.cut is not None:
            self.say(b, "power lost in the middle of a write to %s" % b.cut["file"])
            b.cut = None
            b.cause, b.due = ctl.PWRON_RESET, now + POWER_OFF_S
            return
        b.crashes = b.crashes + 1 if ran < STABLE_S else 1
        delay = min(RESTART_MAX_S, RESTART_DELAY_S * 2 ** (b.crashes - 1))
        if rc == -signal.SIGKILL:
            what, b.cause = "killed (SIGKILL): power lost", ctl.PWRON_RESET
        else:
            how = "signal %s" % signal.Signals(-rc).name if rc < 0 else "exit code %d" % rc
            what, b.cause = "crashed (%s)" % how, ctl.HARD_RESET
        b.due = now + delay
        self.say(b, "%s after %.1f s; boots again in %.1f s" % (what, ran, delay))

    # ---- control

    def command(self, line):
        """Execute a control request line; the answer's lines (None: it comes to reply() later)."""
        return self._request(line, None)

    def check(self, line):
        """Why a control request line would be refused, or None; nothing is done."""
        try:
            targets, words = self._targets(shlex.split(line))
            action = ctl.parse(words)
            if "fault" in action:
                self._check_fault(action["fault"])
        except ValueError as e:  # a CtlError, or shlex's unbalanced quotes
            return str(e)
        return None

    def _request(self, line, conn):
        try:
            words = shlex.split(line)
        except ValueError as e:
            return ["error: %s" % e]
        try:
            targets, words = self._targets(words)
            action = ctl.parse(words)
            if "help" in action:
                return ["ok"] + ctl.COMMANDS.splitlines()
            if "list" in action:
                return ["ok"] + ["%s %s pid %s boots %d" % (b.id, b.state, _pid(b), b.boots) for b in targets]
            if "status" in action:
                return self._status(targets, conn)
            done = [self._act(b, action) for b in targets]
        except ctl.CtlError as e:
            return ["error: %s" % e]
        who = ", ".join(b.id for b in targets) if len(targets) < 6 else "%d boards" % len(targets)
        return ["ok: %s: %s" % (who, " ".join(words))] + [d for d in done if d]

    def _targets(self, words):
        first = words[0] if words else ""
        named = first == "all" or first in self.ids or "," in first or any(c in first for c in "*?[")
        if named or first not in ctl.NAMES and len(self.boards) > 1:
            found = []
            for part in first.split(","):
                if part == "all":
                    match = self.boards
                elif any(c in part for c in "*?["):
                    match = [b for b in self.boards if fnmatch.fnmatchcase(b.id, part)]
                else:
                    match = [self.ids[part]] if part in self.ids else []
                if not match:
                    raise ctl.CtlError("no board %r (boards: %s)" % (part, self._names()))
                found += [b for b in match if b not in found]
            return found, words[1:]
        if len(self.boards) == 1:
            return self.boards, words
        raise ctl.CtlError(
            "which board? start with a board id, ids separated by commas, a pattern such as %s* or all "
            "(boards: %s)" % (self.boards[0].id[:-1], self._names())
        )

    def _names(self):
        ids = [b.id for b in self.boards]
        return ", ".join(ids) if len(ids) < 6 else "%s ... %s" % (ids[0], ids[-1])

    def _act(self, b, action):
        now = time.monotonic()
        if "fault" in action:
            f = self._check_fault(action["fault"])
            _remember(b, f)
            self._send(b, f)
        elif "cut" in action:
            b.cut = action["cut"]
            self._send(b, b.cut)
        elif "power" in action:
            if b.state == "off":
                raise ctl.CtlError("%s is off already (power on brings it back)" % b.id)
            if b.state in ("ended", "stopped"):
                raise ctl.CtlError("%s has %s" % (b.id, b.state))
            if b.proc is not None:
                b.kill = ("power", action["power"])
                self._signal(b, signal.SIGKILL)
            else:  # waiting or down: it stays off
                b.state, b.cause = "off", ctl.PWRON_RESET
                b.due = None if action["power"] is None else now + action["power"]
        elif "power_on" in action:
            if b.state != "off":
                raise ctl.CtlError("%s is not off (it is %s)" % (b.id, b.state))
            b.due = now
        else:
            if b.proc is None:
                raise ctl.CtlError("%s is not running (it is %s)" % (b.id, b.state))
            b.kill = ("reset", action["reset"])
            self._signal(b, signal.SIGKILL)
        return None

    def _check_fault(self, f):
        if self.spec is None:
            raise ctl.CtlError(
                "no world: start the simulator with --world FILE (docs/scenarios.md) to have access "
                "points, sensors and a time source to fault"
            )
        sensors = [
            d.get("name", "%s%d" % (d["kind"], i + 1)) for i, d in enumerate(self.spec.get("sensors", ()))
        ]
        ssids = [d["ssid"] for d in self.spec.get("access_points", [])]
        if "sensor" in f and f["sensor"] not in sensors:
            raise ctl.CtlError("no sensor named %r (known: %s)" % (f["sensor"], ", ".join(sensors) or "none"))
        if "ssid" in f and f["ssid"] not in ssids:
            raise ctl.CtlError("no access point %r (known: %s)" % (f["ssid"], ", ".join(ssids) or "none"))
        if "wifi" in f and not ssids:
            raise ctl.CtlError("the world has no access points")
        return f

    def _send(self, b, f):
        if b.proc is not None:
            with open(b.ctl, "a") as fh:
                fh.write(json.dumps(f) + "\n")

    def _status(self, targets, conn):
        self.status_n += 1
        for b in targets:
            if b.proc is not None:
                try:
                    os.remove(b.ctl + ".status")
                except OSError:
                    pass
                self._send(b, {"status": self.status_n})
        self.pending.append([targets, self.status_n, time.monotonic() + STATUS_WAIT_S, conn])
        self._answer_status(time.monotonic())
        return None

    def _answer_status(self, now):
        for p in list(self.pending):
            targets, n, deadline, conn = p
            said = {}
            for b in targets:
                try:
                    with open(b.ctl + ".status") as f:
                        st = json.load(f)
                    if st.get("n") == n:
                        said[b.id] = st
                except (OSError, ValueError):
                    pass
            if now < deadline and any(b.proc is not None and b.id not in said for b in targets):
                continue
            self.pending.remove(p)
            lines = ["ok"]
            for b in targets:
                d = b.info()
                if b.id in said:
                    st = said[b.id]
                    st.pop("n", None)
                    d["says"] = st
                elif b.proc is not None:
                    d["says"] = None  # it did not touch its hardware (where faults land) for 2 s
                lines.append(json.dumps(d))
            self.reply(conn, lines)

    def reply(self, conn, lines):
        if conn is None:
            self.write("\n".join(lines) + "\n")
        elif self.server is not None:
            self.server.reply(conn, lines)

    def _sync_ctl(self):
        if self.server is None:
            return
        current = set(self.server.sockets())
        for s in self.ctl_socks - current:
            self.sel.unregister(s)
        for s in current - self.ctl_socks:
            self.sel.register(s, selectors.EVENT_READ, ("ctl", s))
        self.ctl_socks = current

    def _typed(self):
        data = os.read(0, 4096)
        if not data:
            self.sel.unregister(0)
            return
        for line in data.decode("utf-8", "replace").splitlines():
            if line.strip():
                answer = self.command(line)
                if answer is not None:
                    self.write("\n".join(answer) + "\n")

    def _scheduled(self, now):
        while self.at and self.at[0][0] <= now and not self.stopping:
            _, line = self.at.pop(0)
            answer = self.command(line)
            if answer is not None:
                self.write("simulator: at %.1f s: %s: %s\n" % (now - self.t0, line, " / ".join(answer)))

    def _summary(self):
        now = time.monotonic()
        span = now - self.next_summary + self.summary_every
        self.next_summary = now + self.summary_every
        counts = {}
        for b in self.boards:
            counts[b.state] = counts.get(b.state, 0) + 1
        states = ", ".join("%d %s" % (counts[s], s) for s in sorted(counts))
        running = counts.get("running", 0)
        rate = self.summary_lines / span / running if running else 0.0
        restarts = sum(b.restarts for b in self.boards)
        self.write(
            "simulator: fleet: %s; %d console lines in %.0f s (%.2f a running board a second); %d restarts\n"
            % (states, self.summary_lines, span, rate, restarts)
        )
        self.summary_lines = 0


def die_with_parent():
    """In a child before exec: SIGKILL when the simulator dies, even by SIGKILL (Linux only)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _family(f):
    if "sensor" in f:
        return "sensor " + f["sensor"]
    if "wifi" in f:
        return "rssi" if f["wifi"] == "rssi" else "air"
    return "ntp"


def _remember(b, f):
    # Keep the faults a rebooted board must get again, without those a later one undoes.
    family = _family(f)
    same = [
        o
        for o in b.faults
        if _family(o) == family and (f.get("ssid") is None or o.get("ssid") == f.get("ssid"))
    ]
    if "sensor" in f:  # a sensor fault changes only what it names
        merged = {}
        for o in same:
            merged.update(o)
        merged.update(f)
        f = merged
    b.faults = [o for o in b.faults if o not in same] + [f]


def _pid(b):
    return b.proc.pid if b.proc is not None else "-"


class SerialSupervisor(Supervisor):
    """One board behind a virtual serial port (serialport.SerialPort), with the same restarts and
    faults. The port itself may hold the chip in reset and boot it again (DTR/RTS over RFC 2217)."""

    def __init__(self, board, command, port, out, spec=None):
        Supervisor.__init__(self, [board], command, out, pipe=False, spec=spec)
        self.port = port

    def _launch(self, b, argv, env):
        self.port.command, self.port.env = argv, env
        self.port.start_board()
        # A reset through DTR/RTS boots a new process as a power-on does.
        self.port.command = self.make_command(b, ctl.PWRON_RESET, 0)[0]
        return self.port.proc

    def step(self, timeout=0.1):
        b = self.boards[0]
        if self.port.proc is not b.proc and b.kill is None:  # the port reset the chip (DTR/RTS)
            b.proc = self.port.proc
            b.state = "off" if b.proc is None else "running"
            if b.proc is not None:
                b.started = time.monotonic()
        Supervisor.step(self, 0)  # a board due to boot is there before the port relays input to it
        self.port.step(int(timeout * 1000))

    def _ended(self, b, rc):
        self.port.stop_board()
        Supervisor._ended(self, b, rc)

    def stop(self, grace=3.0):
        b = self.boards[0]
        b.kill = "stop" if b.proc is not None else None
        self.port.close()
        if b.proc is not None:
            Supervisor._ended(self, b, b.proc.returncode)
        b.state = "stopped"
        self.stopping = True
        if self.server is not None:
            self.server.shutdown()
            self.server = None
        self.sel.close()
