"""The simulated board's USB serial port: a pseudo-terminal, RFC 2217 on loopback, DTR/RTS reset.

Host side (CPython only), used by `python -m simulator --serial`. The board process gets the slave
of a private pseudo-terminal as its console and controlling terminal: that line discipline turns
Ctrl-C into SIGINT while the board lets it (simrepl.Console sets ISIG only while code runs) and
sends "\\n" out as "\\r\\n", as the board's cooked stdout does. SerialPort relays that console to

- a second pseudo-terminal whose slave path it prints (`serial: /dev/pts/N`), for a terminal
  program or `mpremote connect /dev/pts/N`. While nobody has it open the board's output is
  dropped, as a USB bridge drops what the chip sends while the port is closed;
- with rfc2217_port, an RFC 2217 server on 127.0.0.1 (pyserial's PortManager, one client at a
  time) for `rfc2217://127.0.0.1:N` URLs, whose DTR and RTS drive the auto-reset circuit of an
  ESP32 dev board (AutoReset): EN low holds the chip in reset, EN high boots it again, into the
  ROM's serial bootloader (download mode, simulator/romloader.py) if GPIO0 goes low as it leaves
  reset: the real esptool writes, reads, erases and verifies the board's flash image, FLASH.bin next
  to its flash folder, through its flasher stub (which the ROM session plays once esptool uploaded
  it, until a reset) or with --no-stub through the ROM's own commands. When a chip whose filesystem
  partition was written boots again, the files of the image's littlefs (at the board file's
  vfs_offset) replace the flash folder's; an image whose partition table has a "romfs" partition
  (make image ROMFS=1) has its littlefs in the table's "vfs" partition, and the board mounts the
  romfs partition (ROMFS.bin next to the flash folder) at /rom, as firmware with ROMFS does.

A pseudo-terminal has no DTR/RTS lines, so only RFC 2217 resets the board. Such a reset starts a
new board process, which reports POWERON_RESET (rst:0x1), as an ESP32 does after EN was low.
"""

import fcntl
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import termios
import time
import tty

from serial.rfc2217 import PortManager

from simulator import romloader

# The chip boots this long after EN rises, into download mode if GPIO0 was low meanwhile. A real
# chip samples GPIO0 once, after EN's RC delay, but over RFC 2217 the lines esptool changes
# together arrive apart: pyserial waits about 50 ms for each change to be acknowledged.
STRAP_DELAY_S = 0.1
_PENDING_MAX = 64 * 1024  # bytes waiting for a slow reader beyond this are dropped, as by a full FIFO
# Board output waits (the board's prints block) while the port's reader is behind, as mpremote's
# byte-at-a-time reads often are; a reader stalled this long loses it instead, as on a bridge.
_STALL_S = 2.0
_DOWNLOAD_BOOT = (  # what the ROM prints when GPIO0 was low as the chip left reset
    b"rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\n"
    b"waiting for download\r\n"
)


class AutoReset:
    """The two-transistor auto-reset circuit of ESP32 dev boards, driven by DTR and RTS.

    EN = not (RTS and not DTR), GPIO0 = not (DTR and not RTS), an asserted line being True.
    Opening a port asserts both lines, which keeps EN and GPIO0 high: no reset.
    """

    def __init__(self):
        self.dtr = True  # as a port opened by pyserial leaves them
        self.rts = True

    @property
    def en(self):
        return not (self.rts and not self.dtr)

    @property
    def io0(self):
        return not (self.dtr and not self.rts)

    def set(self, dtr=None, rts=None):
        """Change lines; "hold" when EN falls, "release" when it rises, else None."""
        before = self.en
        if dtr is not None:
            self.dtr = bool(dtr)
        if rts is not None:
            self.rts = bool(rts)
        if before != self.en:
            return "release" if self.en else "hold"
        return None


class _Lines:
    """What PortManager takes for the serial port: settings it may change, the lines it drives."""

    def __init__(self, changed):
        self._changed = changed  # called with dtr= or rts=
        self.circuit = AutoReset()
        self.baudrate = 115200
        self.bytesize = 8
        self.parity = "N"
        self.stopbits = 1
        self.xonxoff = False
        self.rtscts = False
        self.break_condition = False
        self.cts = self.dsr = self.ri = self.cd = False  # not wired on a DevKitC's bridge

    @property
    def dtr(self):
        return self.circuit.dtr

    @dtr.setter
    def dtr(self, value):
        self._changed(dtr=value)

    @property
    def rts(self):
        return self.circuit.rts

    @rts.setter
    def rts(self, value):
        self._changed(rts=value)

    def reset_input_buffer(self):
        pass  # nothing is held back: output goes out as it comes

    def reset_output_buffer(self):
        pass


class _Connection:
    def __init__(self, sock):
        self.sock = sock

    def write(self, data):
        self.sock.sendall(data)


def _board_terminal(fd):
    # The board's console: bytes in as sent, "\n" out as "\r\n", no echo or line editing; only
    # Ctrl-C may signal (once the board sets ISIG), and a signal flushes nothing.
    a = termios.tcgetattr(fd)
    a[0] &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP | termios.INLCR)
    a[0] &= ~(termios.IGNCR | termios.ICRNL | termios.IXON | termios.IXOFF)
    a[1] = (a[1] & ~(termios.OCRNL | termios.ONLRET | termios.ONOCR)) | termios.OPOST | termios.ONLCR
    a[2] = (a[2] & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
    a[3] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    a[3] |= termios.NOFLSH
    off = bytes((os.fpathconf(fd, "PC_VDISABLE") & 255,))
    cc = a[6]
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    cc[termios.VINTR] = b"\x03"
    for name in ("VQUIT", "VSUSP", "VDSUSP", "VSTART", "VSTOP", "VLNEXT", "VDISCARD"):
        if hasattr(termios, name):
            cc[getattr(termios, name)] = off
    termios.tcsetattr(fd, termios.TCSANOW, a)


def _controlling_terminal():
    # In the child, after setsid(): stdin becomes its controlling terminal, so ISIG reaches it.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class SerialPort:
    """Runs one board process behind a pseudo-terminal and, optionally, an RFC 2217 server."""

    def __init__(self, command, env, rfc2217_port=None, log=None, say=print):
        self.command = command
        self.env = env
        self.log = log  # a binary file that gets a copy of the console output, or None
        self.say = say  # the launcher's own messages
        self.proc = None
        self.board_fd = None
        self.board_up = False  # the board process has printed something: it takes input
        self.boot_at = None  # when a chip let out of reset boots (time.monotonic())
        self.io0_was_low = False  # GPIO0 was low since EN rose: the ROM waits for a download
        self.rom = None  # the ROM bootloader's session while in download mode
        self.to_board = bytearray()  # typed, not yet taken by the board's terminal
        self.to_pty = bytearray()  # printed, not yet taken by whoever has the port open
        self.stalled_at = None  # since when the port's reader has been too far behind
        self.pty_fd, self.path = self._open_pty()
        self.pty_open = False  # somebody has the slave open
        self.lines = _Lines(self._lines_changed)
        self.listener = None
        self.client = None
        self.manager = None
        self.url = None
        if rfc2217_port is not None:
            self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind(("127.0.0.1", rfc2217_port))
            self.listener.listen(1)
            self.url = "rfc2217://127.0.0.1:%d" % self.listener.getsockname()[1]

    def _open_pty(self):
        master, slave = os.openpty()
        path = os.ttyname(slave)
        tty.setraw(slave)  # no echo: what the board prints must never come back as input
        os.close(slave)
        os.set_blocking(master, False)
        return master, path

    # -- the board process

    def start_board(self):
        master, slave = os.openpty()
        _board_terminal(slave)
        self.proc = subprocess.Popen(
            self.command,
            env=self.env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=_controlling_terminal,
        )
        os.close(slave)
        os.set_blocking(master, False)
        self.board_fd = master
        # What is typed while the board process starts waits until it prints its first output:
        # a Ctrl-C written into its terminal before its interpreter handles SIGINT would be lost
        # (mpremote, connecting at once, would then wait for a raw REPL that never comes).
        self.board_up = False

    def stop_board(self, grace=0):
        """End the board process: at once (a chip held in reset), or after grace seconds of SIGTERM."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            if grace:
                proc.terminate()
                try:
                    proc.wait(grace)
                except subprocess.TimeoutExpired:
                    pass
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)
        if self.board_fd is not None:
            os.close(self.board_fd)
            self.board_fd = None
        self.to_board = bytearray()

    def _lines_changed(self, dtr=None, rts=None):
        event = self.lines.circuit.set(dtr, rts)
        if event == "hold":
            self.boot_at = None
            self.say("simulator: EN low (RTS): the chip is held in reset")
            self.stop_board()
            self._leave_download()
        elif event == "release":
            self.boot_at = time.monotonic() + STRAP_DELAY_S
            self.io0_was_low = False
        if self.boot_at is not None and not self.lines.circuit.io0:
            self.io0_was_low = True

    def _boot_if_due(self):
        if self.boot_at is None or time.monotonic() < self.boot_at:
            return
        self.boot_at = None
        if not self.io0_was_low:
            self.say("simulator: EN high: the chip boots")
            self.start_board()
        else:
            self.say("simulator: EN high with GPIO0 low (DTR): the ROM waits for a download")
            self._to_clients(_DOWNLOAD_BOOT)
            self._enter_download()

    # -- the ROM bootloader (download mode) and the flash image

    def _board_args(self):
        # boardproc.py FLASH_DIR FIRMWARE_DIR BOARD_ID ...: the board's flash folder and id
        for i, arg in enumerate(self.command):
            if arg.endswith("boardproc.py"):
                return self.command[i + 1], self.command[i + 3]
        return None, None

    def flash_image(self):
        """The path of the board's whole SPI flash (FLASH.bin next to its flash folder), or None."""
        folder = self._board_args()[0]
        return os.path.join(os.path.dirname(os.path.abspath(folder)), "FLASH.bin") if folder else None

    def _board_file(self):
        try:
            with open(os.path.join(self._board_args()[0], "board.json")) as f:
                return json.load(f)
        except (OSError, ValueError, TypeError):
            return {}

    def _enter_download(self):
        path = self.flash_image()
        size = self._board_file().get("flash_size", 4 * 1024 * 1024)
        flash = bytearray(b"\xff" * size)  # erased
        if path and os.path.exists(path):
            with open(path, "rb") as f:
                data = f.read(size)
            flash[: len(data)] = data
        board_id = self._board_args()[1] or ""
        n = 0  # the MAC simboard gives this board id, so esptool and network.WLAN agree
        for ch in board_id:
            n = (n * 31 + ord(ch)) & 0xFFFFFF
        mac = bytes((0x24, 0x6F, 0x28, (n >> 16) & 255, (n >> 8) & 255, n & 255))
        self.rom = romloader.RomLoader(flash, mac, self.lines.baudrate)

    def _to_rom(self, data):
        rom = self.rom
        reply = rom.feed(data)
        for note in rom.notes:
            self.say("simulator: " + note)
        del rom.notes[:]
        if reply and self.client is not None:
            try:
                self.client.sendall(reply.replace(b"\xff", b"\xff\xff"))  # Telnet escapes IAC
            except OSError:
                self._drop_client()
        elif reply and self.pty_open:
            self.to_pty += reply
            self._flush_pty()

    def _leave_download(self):
        rom, self.rom = self.rom, None
        path = self.flash_image()
        if rom is None or not rom.written or path is None:
            return
        with open(path, "wb") as f:
            f.write(rom.flash)
        self.say("simulator: flash written (%s)" % path)
        board = self._board_file()
        vfs = board.get("vfs_offset")
        if vfs is not None and any(end > vfs for _, end in rom.written):
            folder = self._board_args()[0]
            try:
                board, note = extract_romfs(
                    rom.flash, board, os.path.join(os.path.dirname(path), "ROMFS.bin")
                )
                if note:
                    self.say("simulator: " + note)
                self.say("simulator: " + extract_littlefs(rom.flash, board, folder))
            except Exception as e:  # a board file without a littlefs geometry: keep the folder, say why
                self.say("simulator: the flash folder is left as it was: %s" % e)

    # -- relaying

    def _to_clients(self, data):
        if self.log is not None:
            self.log.write(data)
            self.log.flush()
        if self.pty_open:
            self.to_pty += data[: max(0, _PENDING_MAX - len(self.to_pty))]  # beyond: lost, as on a bridge
            self._flush_pty()
        if self.client is not None:
            try:
                self.client.sendall(data.replace(b"\xff", b"\xff\xff"))  # Telnet escapes IAC
            except OSError:
                self._drop_client()

    def _flush_pty(self):
        try:
            n = os.write(self.pty_fd, self.to_pty)
        except BlockingIOError:
            return
        except OSError:  # the last reader closed it just now
            self.to_pty = bytearray()
            return
        self.to_pty = self.to_pty[n:]

    def _to_board(self, data):
        if self.rom is not None:
            self._to_rom(data)
            return
        if self.board_fd is None:
            return  # held in reset or in download mode: nobody listens
        self.to_board += data[: max(0, _PENDING_MAX - len(self.to_board))]
        if not self.board_up or not self.to_board:
            return
        try:
            n = os.write(self.board_fd, self.to_board)
        except BlockingIOError:
            return
        except OSError:  # the board process is going away
            self.to_board = bytearray()
            return
        self.to_board = self.to_board[n:]

    def _accept(self):
        conn, _ = self.listener.accept()
        if self.client is not None:
            conn.close()  # the port is in use, as a serial port open elsewhere would be
            return
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(5)  # a client that stops reading is dropped rather than stall the board
        self.client = conn
        self.manager = PortManager(self.lines, _Connection(conn))

    def _drop_client(self):
        client, self.client = self.client, None
        self.manager = None
        if client is not None:
            client.close()
            # Closing a port releases DTR and RTS together (HUPCL): EN rises if it was held low.
            self._lines_changed(dtr=False, rts=False)

    def _from_client(self):
        try:
            data = self.client.recv(4096)
        except OSError:
            data = b""
        if not data:
            self._drop_client()
            return
        payload = b"".join(self.manager.filter(data))
        if payload:
            self._to_board(payload)

    def _reader_keeps_up(self):
        if len(self.to_pty) < _PENDING_MAX // 2:
            self.stalled_at = None
            return True
        now = time.monotonic()
        if self.stalled_at is None:
            self.stalled_at = now
        elif now - self.stalled_at > _STALL_S:
            self.to_pty = bytearray()
            self.stalled_at = None
            return True
        return False

    def _check_pty(self):
        p = select.poll()
        p.register(self.pty_fd, select.POLLIN)
        hup = any(ev & select.POLLHUP for _, ev in p.poll(0))
        if self.pty_open and hup:
            termios.tcflush(self.pty_fd, termios.TCIOFLUSH)  # unread output is gone with the reader
            self.to_pty = bytearray()
        self.pty_open = not hup

    def step(self, timeout_ms=100):
        """Relay whatever is ready; False once the board process has ended by itself."""
        self._boot_if_due()
        if self.boot_at is not None:
            timeout_ms = max(1, min(timeout_ms, int((self.boot_at - time.monotonic()) * 1000) + 1))
        self._check_pty()
        poller = select.poll()
        if self.board_fd is not None:
            poller.register(
                self.board_fd,
                (select.POLLIN if self._reader_keeps_up() else 0)
                | (select.POLLOUT if self.to_board and self.board_up else 0),
            )
        if self.pty_open:
            poller.register(self.pty_fd, select.POLLIN | (select.POLLOUT if self.to_pty else 0))
        if self.listener is not None:
            poller.register(self.listener, select.POLLIN)
        if self.client is not None:
            poller.register(self.client, select.POLLIN)
        for fd, ev in poller.poll(timeout_ms):
            if fd == self.board_fd:
                if ev & select.POLLOUT:
                    self._to_board(b"")
                if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                    self._from_board()
            elif fd == self.pty_fd:
                if ev & select.POLLOUT:
                    self._flush_pty()
                if not ev & select.POLLIN:
                    continue
                try:
                    data = os.read(self.pty_fd, 4096)
                except OSError:  # the last reader closed it just now
                    data = b""
                if data:
                    self._to_board(data)
            elif self.listener is not None and fd == self.listener.fileno():
                self._accept()
            elif self.client is not None and fd == self.client.fileno():
                self._from_client()
        return self.proc is None or self.proc.poll() is None

    def _from_board(self):
        if self.board_fd is None:
            return
        try:
            data = os.read(self.board_fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO: the board process closed its terminal (it ended)
            data = b""
        if data:
            self._to_clients(data)
            if not self.board_up:
                self.board_up = True
                self._to_board(b"")  # what was typed while it started

    def run(self, duration=0):
        """Start the board and relay until it ends by itself (its exit code) or duration passes (0)."""
        self.start_board()
        deadline = time.monotonic() + duration if duration else None
        while self.step():
            if deadline is not None and time.monotonic() >= deadline:
                return 0
        self._drain()
        code = self.proc.returncode
        self.say("simulator: the board process ended with exit code %s" % code)
        return code if code else 1

    def _drain(self):
        # What the board printed last is still in its terminal.
        while self.board_fd is not None and select.select([self.board_fd], [], [], 0.2)[0]:
            try:
                data = os.read(self.board_fd, 4096)
            except OSError:
                return
            if not data:
                return
            self._to_clients(data)

    def close(self):
        """Stop the board process and close everything this port opened."""
        self.stop_board(grace=2)
        self._leave_download()
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        if self.pty_fd is not None:
            os.close(self.pty_fd)
            self.pty_fd = None


def extract_romfs(flash, board, out):
    """The partition table at 0x8000 of a flash image with a "romfs" partition (make image --romfs):
    write that partition to out, which the board mounts at /rom when it boots (boardproc.py), and
    take the littlefs from the table's "vfs" partition. Without one, out goes. (board with the
    vfs_offset the littlefs is at, what was done or None)."""
    from host_tools import partitions
    from host_tools.boardio import ToolError

    t = partitions.TABLE_OFFSET
    try:
        entries = partitions.parse(flash[t : t + partitions.TABLE_SIZE])
    except ToolError:
        entries = []
    part, vfs = partitions.find(entries, "romfs"), partitions.find(entries, "vfs")
    if part is None or vfs is None:
        if os.path.exists(out):
            os.remove(out)
        return board, None
    with open(out, "wb") as f:
        f.write(flash[part["offset"] : part["offset"] + part["size"]])
    board = dict(board, vfs_offset=vfs["offset"])
    return board, "a ROMFS partition of %d bytes at 0x%x, mounted at /rom" % (part["size"], part["offset"])


def extract_littlefs(flash, board, folder):
    """Make the flash folder hold the files of the littlefs at the board's vfs_offset; what was done."""
    import littlefs

    from host_tools import image

    params = image.littlefs_params(board)
    start = board["vfs_offset"]
    part = littlefs.UserContext(buffer=bytearray(flash[start : board["flash_size"]]))
    fs = littlefs.LittleFS(context=part, mount=False, **params)
    try:
        fs.mount()
    except littlefs.LittleFSError:
        fs = None
    for name in os.listdir(folder):  # the old filesystem is gone, board.json describes the hardware
        path = os.path.join(folder, name)
        if name == "board.json" and fs is None:
            continue
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    if fs is None:
        return "no littlefs at 0x%x: the board's filesystem is empty" % start
    count = 0
    for root, _, files in fs.walk("/"):
        os.makedirs(os.path.join(folder, root.strip("/")), exist_ok=True)
        for name in files:
            src = root.rstrip("/") + "/" + name
            with fs.open(src, "rb") as f, open(os.path.join(folder, src.lstrip("/")), "wb") as out:
                out.write(f.read())
            count += 1
    return "%d files from the littlefs at 0x%x into %s" % (count, start, folder)


def serve(command, env, rfc2217_port=None, duration=0, log_path=None, out=sys.stdout):
    """python -m simulator --serial: print where the port is, run the board until it ends."""

    def say(text):
        out.write(text + "\n")
        out.flush()

    log = open(log_path, "ab") if log_path else None
    port = SerialPort(command, env, rfc2217_port, log, say)
    try:
        say("serial: " + port.path)
        if port.url:
            say("rfc2217: " + port.url)
        return port.run(duration)
    finally:
        port.close()
        if log is not None:
            log.close()
