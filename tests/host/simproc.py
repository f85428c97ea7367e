"""A `python -m simulator` process for tests: its output line by line, its control port, stopped by PID."""

import os
import re
import signal
import subprocess
import sys
import threading
import time

from simulator import ctl

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")


# A board that says why it booted, then idles: tests do not depend on what firmware/ runs today.
TICKER = """
import time
import machine
print("main: reset cause %d" % machine.reset_cause())
while True:
    time.sleep_ms(100)
"""


def firmware(tmp_path, source=TICKER):
    """A firmware folder whose main.py is source."""
    fw = tmp_path / "fw"
    fw.mkdir()
    (fw / "main.py").write_text(source)
    return fw


class Sim:
    """`python -m simulator ARGS` with the venv's MicroPython on PATH; the board pids it started."""

    def __init__(self, *args, stdin=subprocess.DEVNULL):
        env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simulator"] + [str(a) for a in args],
            cwd=ROOT,
            env=env,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines = []
        self.pids = set()  # every board process it said it started
        self.port = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            m = re.search(r"(?:started|boots again \(.*\)), pid (\d+)$", line)
            if m:
                self.pids.add(int(m.group(1)))
            if line.startswith("ctl: 127.0.0.1:"):
                self.port = int(line.rsplit(":", 1)[1])
            self.lines.append(line)

    def wait(self, pattern, start=0, timeout=20, count=1):
        """The index of the count-th line from start matching the regular expression (waits)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            seen = [i for i in range(start, len(self.lines)) if rx.search(self.lines[i])]
            if len(seen) >= count:
                return seen[count - 1]
            if time.monotonic() > deadline or self.proc.poll() is not None and len(self.lines) == start:
                raise AssertionError("no line matching %r; output:\n%s" % (pattern, "\n".join(self.lines)))
            time.sleep(0.02)

    def ctl(self, line):
        """One control request; the answer's lines."""
        if self.port is None:
            self.wait("^ctl: ")
        return ctl.request(self.port, line)

    def ended(self, timeout=20):
        """Wait for the simulator to end by itself; its exit code and output."""
        code = self.proc.wait(timeout)
        time.sleep(0.1)  # the reader thread takes the last lines
        return code, "\n".join(self.lines)

    def stop(self, sig=signal.SIGINT, timeout=15):
        """Stop the simulator by PID as a user does; its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        time.sleep(0.1)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        for pid in self.pids:  # a test that failed halfway leaves nothing running
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def alive(pid):
    """True if a process with that PID runs (a zombie does not count)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
