"""A fork server for CPython boards: the board code is imported once, each board is a fork of it.

A plain CPython board process spends ~0.2 s of CPU importing the interpreter's start-up, asyncio
and the fakes, and keeps ~12 MiB of its own. ForkServer starts one process (this module, run as
`python -m simulator.fleetfork FD`) that imports boardproc.py, every fake and asyncio once, freezes
them out of the garbage collector (gc.freeze(), so children do not write to those pages) and then
forks a board for each request: the board shares what was imported, copy-on-write, and starts in
milliseconds. A forked board runs exactly what `python -u boardproc.py ARGS` runs: same arguments,
environment, sys.path and console (a pipe of the supervisor's, passed over the Unix socket).

The server is the boards' parent: it reports each board's pid and, when one ends, its exit status
(as subprocess's returncode: -N for signal N) over the socket; the supervisor signals boards by
PID as it does plain processes. When the supervisor goes away, the server kills its boards and
ends.
"""

import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys

from simulator.fleet import die_with_parent

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKES = os.path.join(ROOT, "simulator", "fakes")
PRELOAD = (
    "machine",
    "network",
    "esp32",
    "dht",
    "onewire",
    "ds18x20",
    "ntptime",
    "simworld",
    "simctl",
    "json",
)


class Forked:
    """A board forked by the server: what the supervisor uses of a subprocess.Popen."""

    def __init__(self, server, pid, stdout):
        self.server = server
        self.pid = pid
        self.stdout = stdout
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            self.server.pump()
        return self.returncode

    def wait(self, timeout=None):
        if self.returncode is None:
            self.server.pump(self.pid, timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired("forked board %d" % self.pid, timeout)
        return self.returncode


class ForkServer:
    """The supervisor's end: spawn(argv, env) forks a board (argv as for a plain process)."""

    def __init__(self, env=None):
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ if env is None else env)
        env["PYTHONPATH"] = os.pathsep.join((ROOT, FAKES))
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "simulator.fleetfork", str(theirs.fileno())],
            env=env,
            stdin=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        theirs.close()
        self.boards = {}  # pid -> Forked, until it ended

    def spawn(self, argv, env):
        """Fork a board running argv (python -u boardproc.py ...) with env; a Forked."""
        r, w = os.pipe()
        try:
            msg = json.dumps({"argv": argv, "env": env}).encode()
            socket.send_fds(self.sock, [msg], [w])
        except OSError:
            os.close(r)
            raise
        finally:
            os.close(w)
        stdout = os.fdopen(r, "rb", buffering=0)
        pid = self._reply()
        if pid is None:
            stdout.close()
            raise OSError("the fork server ended (exit code %s)" % self.proc.poll())
        board = self.boards[pid] = Forked(self, pid, stdout)
        return board

    def _reply(self):
        # The pid of the board just forked; exit reports met on the way are kept.
        while True:
            msg = self._recv(30)
            if msg is None:
                return None
            if "pid" in msg:
                return msg["pid"]
            self._ended(msg)

    def _recv(self, timeout):
        if not select.select([self.sock], [], [], timeout)[0]:
            return None
        try:
            data = self.sock.recv(4096)
        except OSError:
            return None
        return json.loads(data) if data else None

    def _ended(self, msg):
        board = self.boards.pop(msg["exit"], None)
        if board is not None:
            board.returncode = msg["code"]

    def pump(self, pid=None, timeout=None):
        """Take the exit reports that arrived; with pid, wait (up to timeout s) for that board's."""
        while True:
            wait = 0 if pid is None or pid not in self.boards else (30 if timeout is None else timeout)
            msg = self._recv(wait)
            if msg is None:
                break
            self._ended(msg)
        if self.proc.poll() is not None:  # the server is gone: nobody reports, look for ourselves
            for p in list(self.boards):
                try:
                    os.kill(p, 0)
                except ProcessLookupError:
                    self._ended({"exit": p, "code": -signal.SIGKILL})

    def close(self):
        """End the server; it kills the boards still running."""
        self.sock.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---- the server process


def _board(argv, env):
    # In the forked child: become what `python -u boardproc.py ARGS` would be, then run it.
    import boardproc

    from simulator import cpython

    os.environ.clear()
    os.environ.update(env)
    sys.argv = argv[2:]
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [os.path.dirname(boardproc.__file__)] + paths + [p for p in _base_path if p not in paths]
    cpython.install()  # the heap size of this board's environment, the fakes first
    for name in ("random",):
        if name in sys.modules:
            sys.modules[name].seed()  # not the same numbers in every board
    code = 1
    try:
        code = boardproc.main(sys.argv) or 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 (as the interpreter would: traceback, exit code 1)
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        os._exit(code)


def _serve(sock):
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children = set()
    while True:
        ready = select.select([sock, wake_r], [], [], 1.0)[0]
        if wake_r in ready:
            os.read(wake_r, 4096)
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            children.discard(pid)
            sock.send(json.dumps({"exit": pid, "code": os.waitstatus_to_exitcode(status)}).encode())
        if sock not in ready:
            continue
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 1 << 20, 1)
        except OSError:
            msg, fds = b"", []
        if not msg:  # the supervisor is gone: so are its boards
            for pid in children:
                os.kill(pid, signal.SIGKILL)
            return
        req = json.loads(msg)
        pid = os.fork()
        if pid == 0:
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE):
                signal.signal(sig, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            os.setsid()
            die_with_parent()  # the server: it dies only after killing its boards, or by SIGKILL
            os.dup2(fds[0], 1)
            os.dup2(fds[0], 2)
            for fd in (fds[0], wake_r, wake_w, sock.fileno()):
                os.close(fd)
            _board(req["argv"], req["env"])
        os.close(fds[0])
        children.add(pid)
        sock.send(json.dumps({"pid": pid}).encode())


_base_path = []


def main(argv):
    sock = socket.socket(fileno=int(argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor stops the boards, by PID
    sys.path.insert(0, os.path.join(ROOT, "simulator"))
    import boardproc  # noqa: F401 (imports the CPython shims, simboard, simrepl, simflash)

    for name in PRELOAD:
        __import__(name)
    _base_path[:] = [p for p in sys.path if p not in (ROOT, FAKES, os.path.join(ROOT, "simulator"))]
    gc.collect()
    gc.freeze()  # what the boards share stays shared: the collector leaves it alone
    _serve(sock)


if __name__ == "__main__":
    main(sys.argv)
