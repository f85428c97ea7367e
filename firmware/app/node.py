"""The device application's I/O: Wi-Fi, the WebSocket, sensors, relays, watchdog (docs/protocol.md).

Node wires the sans-I/O parts together with asyncio tasks:
- link: Wi-Fi (configured networks in priority order), then the WebSocket with the device token,
  hello/welcome, and a reader that turns server messages into acks and commands; reconnects with
  exponential backoff and full jitter (reset after a stable minute), long backoff for 401/403 and
  protocol version errors, Retry-After for 429/503.
- sensors: each sensor on its own interval through its filter chains into the outbox.
- tick: relay timers, the lease (each relay's on_link_loss policy when the server is silent),
  Wi-Fi loss, the welcome timeout, heap and loop-lag statistics, the watchdog feed, the boot guard.
Safe mode (rapid reboots, or an invalid config) runs the network and console only, relays at their
safe level, and takes only the safe commands.
"""

import asyncio
import gc
import os

import machine

from app import log
from app.errors import AppError
from app.link import Link, accepted
from compat import sleep_ms, ticks_diff, ticks_ms

FIRMWARE = "0.2.0"
SAFE_COMMANDS = ("status", "config.get", "config.set", "log.level", "reboot")
RESETS = {
    machine.PWRON_RESET: "power_on",
    machine.HARD_RESET: "hard",
    machine.WDT_RESET: "wdt",
    machine.DEEPSLEEP_RESET: "deepsleep",
    machine.SOFT_RESET: "soft",
}
STABLE_MS = 60000
BACKOFF_MIN = 1000
REFUSED_MS = 300000  # 401/403 and protocol version: nothing will change soon
WELCOME_MS = 10000
WDT_MS = 30000
TIGHT_HEAP = 40 * 1024  # free after setup below which the heap is collected early (main)
RESTART_MS = 1000  # a failed task's pause before it starts again
REPL_WDT_MS = 86400000  # a day
RX_BUFFER = 512  # the server's messages are small; a larger frame streams through it
NODE = None  # the running node, for the console commands
_KEPT = ("device_id", "server", "token", "wifi", "watchdog")  # what the node reads of cfg after setup


def _jitter(ms):
    return ms * int.from_bytes(os.urandom(2), "big") >> 16


class Node:
    def __init__(self, cfg, board, errors=(), cfg_hash="", safe=False, pin=None):
        global NODE
        NODE = self
        self.t0 = ticks_ms()
        self.up = ticks_diff(self.t0, log._start)  # the log's uptime goes on from here
        self.cfg = cfg
        self.board = (board.get("name"), board.get("chip"))  # the rest is read again for config.set
        self.hash = cfg_hash
        self.safe = safe or bool(errors)
        self.boot_id = "%08x" % int.from_bytes(os.urandom(4), "big")
        self.reset = RESETS.get(machine.reset_cause(), "unknown")
        log.clock = self.now
        iv = cfg.get("intervals") or {}
        self.lease_ms = int(iv.get("lease", 60) * 1000)
        self.keepalive = iv.get("keepalive", 20)
        self.hold = int(iv.get("telemetry", 10) * 1000)
        self.backoff_max = int(iv.get("reconnect_max", 60) * 1000)
        from app.store import load_json, save_json

        self.save_json = save_json
        seq, how = load_json("seq.json", {})
        if how == "corrupt":
            log.error(
                "app", "seq.json is corrupt: sequence numbers restart at 1 (the server may see duplicates)"
            )
        seq = seq.get("next", 1)
        if type(seq) is not int or seq < 1:
            seq = 1
        self.link = Link(seq, self._reserve, cfg.get("outbox", 200))
        self.out = []  # replies and events waiting for the sender
        self.wake = asyncio.Event()
        self.flush = False  # telemetry is due
        self.ws = None
        self.hello_at = None
        self.heard = 0  # uptime of the server's last sign of life
        self.link_up = True  # the lease has not expired
        self.reconnects = 0
        self.state = "starting"
        self.running = {}  # command ids being executed
        self.heap_min = gc.mem_free()
        self.lag = 0
        self.lag_max = 0
        self.relays = None
        self.sensors = []
        self.last = {}  # sensor name -> last reading (values or error) for the console
        self.failing = {}
        self.wlan = None
        self.wdt = None
        if not self.safe:
            self._setup(pin)
        self.keep_config(cfg)

    def keep_config(self, cfg):
        """Keep of cfg what the running node reads again (connecting, the watchdog); config.get and
        config.set read config.json again: the relays' and sensors' specs have done their work."""
        self.cfg = {k: cfg[k] for k in _KEPT if k in cfg}

    def _setup(self, pin):
        from app.relays import Relays
        from app.store import load_json

        grace = int((self.cfg.get("intervals") or {}).get("link_loss_grace", 10) * 1000)
        saved, how = load_json("state.json", {})
        if how == "corrupt":
            log.error("relays", "state.json is corrupt: restoring relays as off")
        self.relays = Relays(self.cfg.get("relays", []), pin or machine.Pin, self._save_relays, saved, grace)
        t = ticks_ms()
        self.relays.boot(t)
        self.relays.link(t, True)  # the lease runs from boot: the tick loop says when it expires
        from app.filters import Chain
        from app.sensors import make

        for spec in self.cfg.get("sensors", []):
            try:
                d = make(spec)
            except AppError as e:
                log.error("sensors", e.message)
                continue
            try:
                Chain(spec.get("filters"))  # checked once here; one chain per quantity as they appear
            except AppError as e:
                log.error("sensors", "%s: %s" % (d.name, e.message))
                continue
            f = spec.get("filters") or None  # none: its values go as read, with no chain at all
            self.sensors.append([d, f and {}, 0, f])

    def now(self):
        t = ticks_ms()
        self.up += ticks_diff(t, self.t0)
        self.t0 = t
        return self.up

    def _reserve(self, start):
        self.save_json("seq.json", {"next": start})

    def _save_relays(self, states):
        try:
            self.save_json("state.json", states)
        except OSError as e:
            log.error("relays", "cannot save relay state: %s" % e)

    def send(self, text):
        self.out.append(text)
        self.wake.set()

    # ---- the main loop

    async def main(self):
        if self.cfg.get("server") and self.cfg.get("device_id"):
            asyncio.create_task(self.link_loop())
        else:
            log.error("link", "no server or device_id in config.json: staying offline")
        if self.sensors:
            asyncio.create_task(self.sensor_loop())
        await self.tick_loop()

    async def crashed(self, name, e, fails, began):
        """Task `name` failed with e, its loop having begun at uptime `began`; it starts again after
        RESTART_MS. Returns its count of failures in a row: five, each within a minute of the
        loop's start, reboot the board. The loops catch their own failures: no frame of a guard
        around each, for as long as it runs."""
        gc.collect()  # what the failed loop held is garbage now
        fails = fails + 1 if self.now() - began < STABLE_MS else 1
        log.error(name, "task failed (%d): %r" % (fails, e))
        if fails >= 5:
            machine.reset()
        await asyncio.sleep_ms(RESTART_MS)
        return fails

    async def tick_loop(self):
        fails = 0
        while True:
            began = self.now()
            try:
                wdt = self.wdt = machine.WDT(timeout=WDT_MS) if self.cfg.get("watchdog", True) else None
                good_at = STABLE_MS
                while True:
                    t = ticks_ms()
                    await asyncio.sleep_ms(100)
                    self.lag = max(0, ticks_diff(ticks_ms(), t) - 100)
                    self.lag_max = max(self.lag, self.lag_max)
                    if wdt:
                        wdt.feed()
                    now = self.now()
                    free = gc.mem_free()
                    if free < self.heap_min:
                        self.heap_min = free
                    if good_at and now >= good_at:
                        good_at = 0
                        try:
                            from app import bootguard

                            bootguard.good()
                            del bootguard
                            _forget("bootguard")
                        except (ImportError, OSError) as e:
                            log.warn("boot", "cannot clear the reboot counter: %s" % e)
                    r = self.relays
                    if r is not None:
                        t = ticks_ms()  # relays run on ticks; `now` is the uptime
                        r.tick(t)
                        self._relay_events(now)
                        silent = now - self.heard > (self.link.lease or self.lease_ms)
                        if silent and self.link_up:
                            self.link_up = False
                            log.warn(
                                "lease",
                                "no sign of the server for %d s: relays follow on_link_loss"
                                % ((now - self.heard) // 1000),
                            )
                            r.link(t, False)
                        elif not silent and not self.link_up:
                            self.link_up = True
                            r.link(t, True)
                    ws = self.ws
                    if ws is not None and self.link.welcomed and self.link.due(now, self.hold):
                        self.flush = True
                        self.wake.set()
                    if ws is not None:
                        lr = getattr(ws, "last_received", None)  # pongs count as signs of life
                        if lr is not None:
                            self.heard = max(self.heard, now - ticks_diff(self.t0, lr))
                        if (
                            self.hello_at is not None
                            and not self.link.welcomed
                            and now - self.hello_at > WELCOME_MS
                        ):
                            log.warn("link", "no welcome within %d s: reconnecting" % (WELCOME_MS // 1000))
                            self._drop(ws)
                        elif self.wlan is not None and not self.wlan.isconnected():
                            log.warn("wifi", "Wi-Fi lost")
                            self._drop(ws)
            except Exception as e:  # a bug or a MemoryError: the loop starts again
                fails = await self.crashed("tick", e, fails, began)

    def _drop(self, ws):
        self.ws = None
        self.hello_at = None
        asyncio.create_task(ws.close(1001, "going away"))

    def _relay_events(self, now, inside=False):
        """Log the relays' changes and make their events: sent as event messages, or with inside
        returned as a list of event objects (JSON) for the result that caused them (None: none)."""
        r = self.relays
        if r is None or not r.changes:
            return None
        changes = r.changes
        out = [] if inside else None
        for name, on, cause in changes:
            if log.level <= 1:  # info: the line is made only when it is printed
                log.info("relays", "%s %s (%s)" % (name, "on" if on else "off", cause))
            if self.link.welcomed:
                e = self.link.relay_event(now, name, on, cause, inside)
                if inside:
                    out.append(e)
                else:
                    self.send(e)
        changes.clear()  # the same list again: no new one for every change
        return out

    # ---- sensors

    async def sensor_loop(self):
        fails = 0
        while True:
            began = self.now()
            try:
                while True:
                    now = self.now()
                    due = None
                    for s in self.sensors:
                        if s[2] <= now:
                            await self.read_sensor(s)
                            s[2] = self.now() + s[0].interval_ms
                        if due is None or s[2] < due:
                            due = s[2]
                    wait = due - self.now()
                    if wait > 0:
                        await asyncio.sleep_ms(min(wait, 1000))
            except Exception as e:  # a bug or a MemoryError: the loop starts again
                fails = await self.crashed("sensors", e, fails, began)

    async def sample(self, d):
        """Read driver d now: ({quantity: value}, None) or (None, AppError)."""
        try:
            wait = d.begin()
            if wait:
                await asyncio.sleep_ms(wait)
            return d.read(), None
        except AppError as e:
            return None, e
        except Exception as e:  # a driver bug must not stop the other sensors
            return None, AppError("sensor_failed", "%s: %r" % (d.name, e))

    async def read_sensor(self, s):
        d, chains = s[0], s[1]
        values, err = await self.sample(d)
        now = self.now()
        was = self.failing.get(d.name)
        if err is not None:
            self.last[d.name] = err.message
            if was != err.code:
                self.failing[d.name] = err.code
                log.warn("sensors", err.message)
                e = {"code": err.code, "message": err.message}
                self.link.reading(now, d.name, error=e)
                if self.link.welcomed:
                    self.send(
                        self.link.event(now, {"kind": "sensor", "sensor": d.name, "ok": False, "error": e})
                    )
            return
        if was:
            del self.failing[d.name]
            log.info("sensors", "%s works again" % d.name)
            if self.link.welcomed:
                self.send(self.link.event(now, {"kind": "sensor", "sensor": d.name, "ok": True}))
        out = []
        t = ticks_ms()
        for q, unit in d.quantities:
            v = values.get(q)
            if v is not None:
                if chains is not None:
                    c = chains.get(q)
                    if c is None:
                        from app.filters import Chain

                        c = chains[q] = Chain(s[3])
                    v = c.push(v, t)
                if v is not None:
                    out.append([q, v, unit])
        self.last[d.name] = values
        if out:
            self.link.reading(now, d.name, out)
            log.debug("sensors", "%s %s" % (d.name, out))

    # ---- the link

    async def wifi(self):
        import network

        w = self.wlan
        if w is None:
            w = self.wlan = network.WLAN(network.STA_IF)
        if w.isconnected():
            return True
        w.active(True)
        nets = self.cfg.get("wifi") or []
        try:
            seen = [ap[0].decode() for ap in w.scan()]
        except OSError:
            seen = []
        order = [n for n in nets if n.get("ssid") in seen] or nets
        for n in order:
            self.state = "wifi"
            log.info("wifi", "connecting to %s" % n["ssid"])
            try:
                w.connect(n["ssid"], n.get("password", ""))
            except OSError as e:
                log.warn("wifi", "%s: %s" % (n["ssid"], e))
                continue
            t = self.now()
            while not w.isconnected() and self.now() - t < 15000:
                await asyncio.sleep_ms(100)
            if w.isconnected():
                log.info("wifi", "connected to %s, %s, RSSI %s dBm" % (n["ssid"], w.ifconfig()[0], _rssi(w)))
                return True
            log.warn("wifi", "%s: no connection within 15 s (status %s)" % (n["ssid"], w.status()))
            w.disconnect()
        if not nets:
            log.error("wifi", "no Wi-Fi networks in config.json")
        return False

    async def link_loop(self):
        fails = 0
        while True:
            began = self.now()
            try:
                from ws.client import ConnectionClosed, HandshakeError, WebSocketError, connect

                backoff = BACKOFF_MIN
                url = self.cfg["server"]
                headers = {
                    "Authorization": "Bearer " + self.cfg.get("token", ""),
                    "X-Device-Id": self.cfg["device_id"],
                }
                while True:
                    delay = _jitter(backoff)
                    if await self.wifi():
                        self.state = "connecting"
                        start = self.now()
                        if not self.running:  # no command is waiting for its end (a task)
                            _forget("commands")  # room to connect; the next command loads it again
                        gc.collect()  # the last connection's blocks are free again for this one's
                        try:
                            ws = await connect(
                                url,
                                headers=headers,
                                ping_interval=self.keepalive,
                                ping_timeout=self.keepalive,
                                close_timeout=2,
                                rx_buffer_size=RX_BUFFER,
                            )
                        except HandshakeError as e:
                            delay = _refused(e) or delay
                        except WebSocketError as e:  # its message names the host and the cause
                            log.warn("link", str(e))
                        except OSError as e:
                            log.warn("link", "cannot connect to %s: %s" % (url, e))
                        else:
                            delay = await self.session(ws, ConnectionClosed, WebSocketError) or delay
                            if self.now() - start >= STABLE_MS:
                                backoff = BACKOFF_MIN
                                delay = _jitter(backoff)
                    self.state = "waiting"
                    log.info("link", "reconnecting in %d.%d s" % (delay // 1000, delay % 1000 // 100))
                    await asyncio.sleep_ms(delay)
                    backoff = min(backoff * 2, self.backoff_max)
                    self.reconnects += 1
            except Exception as e:  # a bug or a MemoryError: the loop starts again
                fails = await self.crashed("link", e, fails, began)

    async def session(self, ws, ConnectionClosed, WebSocketError):
        """One connection from hello to its end; returns a delay in ms for a refusal, else None."""
        link = self.link
        link.connected()
        self.ws = ws
        self.state = "hello"
        self.out = []
        now = self.now()
        self.heard = now
        self.hello_at = now
        sender = asyncio.create_task(self.sender(ws))
        try:
            await ws.send(link.hello(self.info(), now))
            while True:
                text = await ws.recv()
                now = self.now()
                self.heard = now
                if type(text) is not str:
                    continue
                try:
                    act, val = link.received(text, now)
                except AppError as e:  # a protocol version this board does not speak
                    log.error("link", e.message)
                    await ws.close(1002, "protocol version")
                    return REFUSED_MS
                if act == "welcome":
                    self.state = "online"
                    log.info("link", "online: %d readings waiting" % link.unacked())
                    self.flush = True  # the backlog goes at once
                    self.wake.set()
                elif act == "command":
                    val = self.command(val[0], val[1], val[2])  # no *val: it builds its args on the heap
                    if val:
                        await ws.send(val)
                elif act == "reply":  # a remembered result, or an error: straight back
                    await ws.send(val)
        except ConnectionClosed as e:
            if e.code == 4002:
                log.error("link", "the server does not speak this board's protocol: %s" % e.reason)
                return REFUSED_MS
            log.warn("link", "connection closed: %d %s" % (e.code, e.reason))
        except (OSError, WebSocketError) as e:
            log.warn("link", "connection lost: %s" % e)
        finally:
            self.ws = None
            self.hello_at = None
            sender.cancel()
            if ws.open:
                try:
                    await ws.close()
                except (OSError, WebSocketError):
                    pass
        return None

    async def sender(self, ws):
        link = self.link
        while True:
            await self.wake.wait()
            self.wake.clear()
            try:
                while self.out:
                    await ws.send(self.out.pop(0))
                if not self.flush:
                    continue
                self.flush = False
                while True:
                    t = link.telemetry()
                    if t is None:
                        break
                    await ws.send(t)
            except Exception as e:  # a broken link, or no memory: start the connection afresh
                log.warn("link", "send failed: %r" % (e,))
                if self.ws is ws:
                    self._drop(ws)
                return

    def info(self):
        caps = []
        for s in self.sensors:
            d = s[0]
            caps.append({"name": d.name, "kind": d.kind, "quantities": [list(q) for q in d.quantities]})
        relays = self.relays.all() if self.relays else []
        return {
            "device": self.cfg.get("device_id"),
            "fw": FIRMWARE,
            "board": self.board[0],
            "chip": self.board[1],
            "boot": self.boot_id,
            "reset": self.reset,
            "config": self.hash,
            "safe_mode": self.safe,
            "sensors": caps,
            "relays": [{"name": r["name"], "on": r["on"]} for r in relays],
        }

    # ---- commands

    def command(self, cid, method, params):
        """Run command cid in the reader, so that an instant command is answered without a task
        switch or a coroutine frame; the text to send at once: its result, or `accepted` when a
        task answers later (sensors.read, an interlock's dead time)."""
        if cid in self.running:  # a repeat of a command still running: the first one answers
            return accepted(cid)
        from app import commands

        try:
            if self.safe and method not in SAFE_COMMANDS:
                raise AppError("safe_mode", "the board is in safe mode: only %s" % ", ".join(SAFE_COMMANDS))
            fn = commands.METHODS.get(method)
            if fn is None:
                raise AppError(
                    "unknown_method",
                    "no method %r; methods: %s" % (method, ", ".join(sorted(commands.METHODS))),
                )
            value = fn(self, params, cid)
            if method in commands.SLOW:  # a coroutine: it runs in a task of its own
                asyncio.create_task(self._slow(cid, method, value))
                value = commands.PENDING
            if value is commands.PENDING:
                self.running[cid] = 1
                return accepted(cid)
            return self.finish(cid, value)
        except Exception as e:
            return self._failed(cid, method, e)

    async def _slow(self, cid, method, coro):
        try:
            text = self.finish(cid, await coro)
        except Exception as e:
            text = self._failed(cid, method, e)
        await self.say(text)

    def _failed(self, cid, method, e):
        # The result of a command that raised: its AppError, else "internal" (never the link's end).
        if isinstance(e, AppError):
            return self.finish(cid, error=(e.code, e.message))
        log.error("commands", "%s %s: %r" % (cid, method, e))
        return self.finish(cid, error=("internal", repr(e)))

    async def say(self, text):
        # Straight onto the connection: a result is what the server waits for. Without one it
        # is dropped: the server sends the command again and gets the remembered result.
        ws = self.ws
        if ws is not None:
            try:
                await ws.send(text)
            except Exception as e:  # the reader sees the end of the connection too
                log.debug("link", "result not sent: %r" % (e,))

    def finish(self, cid, value=None, error=None):
        """Remember command cid's result; its text, with the events of the relay changes it caused
        (one frame instead of two; a repeat gets the remembered result without them)."""
        if self.running:
            self.running.pop(cid, None)
        return self.link.done(cid, value, error, self._relay_events(self.now(), True))

    def status(self):
        w = self.wlan
        on = w is not None and w.isconnected()
        gc.collect()
        free = gc.mem_free()
        self.heap_min = min(self.heap_min, free)
        return {
            "device": self.cfg.get("device_id"),
            "fw": FIRMWARE,
            "uptime": self.now(),
            "reset": self.reset,
            "safe_mode": self.safe,
            "heap_free": free,
            "heap_min": self.heap_min,
            "wifi": {
                "connected": on,
                "ip": w.ifconfig()[0] if on else None,
                "rssi": _rssi(w) if on else None,
            },
            "link": self.state,
            "reconnects": self.reconnects,
            "outbox": self.link.unacked(),
            "dropped": self.link.dropped_total,
            "loop_lag_ms": self.lag,
            "loop_lag_max_ms": self.lag_max,
            "warnings": log.count,  # warning and error lines since boot, and the last one
            "last_warning": log.recent[-1] if log.recent else None,
        }


def _refused(e):
    # A handshake the server refused (HandshakeError e): how long to wait (ms) when the answer
    # says, else None (the usual backoff).
    if e.status in (401, 403):
        log.error(
            "link",
            "the server refused this device (%s %s): check device_id and token in config.json"
            % (e.status, e.reason),
        )
        return REFUSED_MS
    if e.status in (429, 503) and e.retry_after is not None:
        log.warn("link", "server busy (%s): retry after %d s" % (e.status, e.retry_after))
        return e.retry_after * 1000
    log.warn("link", "handshake failed: %s" % e)
    return None


def _rssi(w):
    try:
        return w.status("rssi")
    except (OSError, ValueError, TypeError):
        return None


def _forget(name):
    # Drop module app.<name>, done with for now: its functions and globals leave the heap (it is
    # imported again, from the flash, if it is needed again).
    import sys

    import app

    sys.modules.pop("app." + name, None)
    if hasattr(app, name):
        delattr(app, name)


def main():
    """Load the config, build the node and run it for ever (the board's main.py calls this)."""
    from app import config

    cfg, board, errors, warnings, h = config.load()
    del config  # its checks are done: give its heap back (config.set imports it again)
    _forget("config")
    for w in warnings:
        log.warn("config", w)
    for e in errors:
        log.error("config", e)
    safe = False
    try:
        from app import bootguard

        count, safe = bootguard.boot_state()
        del bootguard
        _forget("bootguard")  # the tick loop imports it again once this boot has proved stable
        if safe:
            log.error("boot", "safe mode: %d rapid reboots; network and console only, relays off" % count)
    except (ImportError, OSError, AttributeError):
        pass
    if errors:
        log.error("config", "safe mode: config.json has %d error(s); fix them and reboot" % len(errors))
    lvl = cfg.get("log_level")
    if lvl in log.LEVELS:
        log.set_level(lvl)
    n = Node(cfg, board, errors, h, safe)
    gc.collect()
    free = gc.mem_free()
    if free < TIGHT_HEAP:
        # Little room: collect after every quarter of it is allocated rather than when it is all
        # gone. Garbage that waits for a full heap leaves the objects that stay (a connection's,
        # code loaded again) scattered between its holes: a reconnect then finds no block of a
        # few hundred bytes in kilobytes free. Each collection takes a few milliseconds, so a
        # roomy heap is left to collect when it is full.
        gc.threshold(free // 4)
    who = cfg.get("device_id") or "unconfigured"
    log.info("app", "%s on %s, firmware %s, reset %s" % (who, board.get("name"), FIRMWARE, n.reset))
    cfg = board = errors = warnings = None  # this frame lives as long as the board runs: keep nothing
    try:
        asyncio.run(n.main())
    except KeyboardInterrupt:
        # Ctrl-C: the person at the console (or mpremote) takes over. The watchdog cannot be
        # stopped once started, so it gets its longest timeout instead of resetting the board
        # under their hands; a reset brings the application back.
        if n.wdt is not None:
            n.wdt = machine.WDT(timeout=REPL_WDT_MS)
        print(
            "app stopped (Ctrl-C): the REPL is yours; `from app.console import *` for status(), relays()..."
        )
        raise
    finally:
        asyncio.new_event_loop()
    sleep_ms(0)
