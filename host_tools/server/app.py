"""The reference server: one asyncio process (aiohttp) serving the device endpoint, the HTTP API,
live updates for browsers and the dashboard's files.

    server = Server(store, operator_token)
    port = await server.start("127.0.0.1", 8080)   # port 0: any free port, returned
    ...
    await server.stop()

The database runs on one thread of its own (`db()`), reads for the API on a second connection and
thread (`read()`). Telemetry arriving within `batch_ms` of each other is written in one
transaction by the writer task, which then acks each message itself (`device.Link.committed`).
A sweeper expires commands, tracks online/stale, pings boards, closes silent or revoked
connections and prunes old data. docs/scaling.md says what was done to hold 5,000 boards.
"""

import asyncio
import gc
import json
import logging
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from host_tools.protocol import check_command

from . import api, device
from .auth import Limits, session_value
from .store import WAL_AUTOCHECKPOINT, Store, StoreError, now_ms

log = logging.getLogger("server")
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
INFO = ("fw", "board", "chip", "boot", "reset", "uptime", "config", "safe_mode")


class Server:
    # Limits and timings (docs/server.md); each can be given to the constructor by name.
    lease_ms = 60_000  # sent in the welcome; stale after 2 leases of silence, closed after 4
    max_message_size = 64 * 1024  # WebSocket messages and HTTP bodies
    max_connections_per_address = 1000  # open WebSocket connections (devices and browsers)
    max_auth_failures = 20  # failed authentications per address within auth_window_s -> 429
    auth_window_s = 60
    retention_days = 30  # readings, events and finished commands older than this are pruned; 0 keeps all
    batch_ms = 5  # telemetry arriving within this many ms goes into one transaction
    batch_max = 200  # telemetry messages in one transaction at most: other database work waits less
    command_timeout_s = 30  # when a command names no timeout or deadline
    result_grace_ms = 5_000  # a command already sent expires this long after its deadline
    hello_timeout_s = 10
    sweep_s = 0.5
    revoke_check_s = 5
    live_queue = 1000  # updates waiting for a slow browser before it is disconnected
    prune_every_s = 3600
    # Python's cyclic garbage collector: with thousands of connections a full pass takes a few
    # hundred ms of the event loop, and by default one runs whenever the heap grew by a quarter.
    # Young passes are made rarer (every 50,000 allocations instead of 700) and full ones happen
    # every gc_full_s from the sweeper instead (None keeps Python's defaults).
    gc_thresholds = (50_000, 20, 1_000_000)
    gc_full_s = 600
    # The WAL is copied into the database file by a thread and a connection of their own, every
    # checkpoint_s, without taking the write lock (PASSIVE): the writer never stops for it. Left to
    # SQLite, the commit that fills the WAL copies it, with an fsync, while every later batch of
    # telemetry and every command's trip to the database waits (0 keeps SQLite's way).
    checkpoint_s = 1.0

    def __init__(self, store, operator_token, static_dir=STATIC, **settings):
        for k, v in settings.items():
            if k.startswith("_") or not hasattr(Server, k) or callable(getattr(Server, k)):
                raise TypeError("unknown server setting %r" % k)
            setattr(self, k, v)
        self.store = store
        self.operator_token = operator_token
        self.session = session_value(store.key, operator_token)
        self.static_dir = static_dir
        self.limits = Limits(self.max_auth_failures, self.auth_window_s, self.max_connections_per_address)
        self.links = {}  # device id -> device.Link, from its hello on
        self.live = set()  # api.Subscriber
        self.dbx = ThreadPoolExecutor(1, thread_name_prefix="db")
        # Reads on a connection and a thread of their own (WAL: readers do not wait for the writer),
        # so an API poll or a token check never queues behind a batch of telemetry.
        path = store.db.execute("PRAGMA database_list").fetchone()[2]
        self.reader = Store(path, store.key) if path else store
        self.readx = ThreadPoolExecutor(1, thread_name_prefix="db-read") if path else self.dbx
        self.checkpoints = None  # (executor, connection) of the checkpoints, once started
        self._path = path
        self.runner = None
        self.tasks = []
        self.bg = set()

    async def db(self, fn, *args):
        """Run a Store method on the database thread."""
        return await asyncio.get_running_loop().run_in_executor(self.dbx, fn, *args)

    async def read(self, name, *args):
        """Run the Store method `name`, one that only reads, on the reading thread."""
        fn = getattr(self.reader, name)
        return await asyncio.get_running_loop().run_in_executor(self.readx, fn, *args)

    def spawn(self, coro):
        task = asyncio.ensure_future(coro)
        self.bg.add(task)
        task.add_done_callback(self.bg.discard)
        return task

    def app(self):
        app = web.Application(client_max_size=self.max_message_size, middlewares=[api.guard(self)])

        async def device_endpoint(request):
            return await device.endpoint(self, request)

        async def index(request):
            return web.FileResponse(os.path.join(self.static_dir, "index.html"))

        app.router.add_get("/device", device_endpoint)
        api.routes(self, app)
        if os.path.isdir(self.static_dir):
            app.router.add_get("/", index)
            app.router.add_static("/", self.static_dir)
        return app

    async def start(self, host="127.0.0.1", port=8080, ssl_context=None):
        """Serve on host:port (port 0: any free one); returns the port."""
        await self.db(self.store.set_all_offline)
        if self.gc_thresholds:
            self._gc_before = gc.get_threshold()
            gc.set_threshold(*self.gc_thresholds)
        self.wq = asyncio.Queue()
        self.tasks = [asyncio.ensure_future(self._writer()), asyncio.ensure_future(self._sweeper())]
        if self._path and self.checkpoint_s:
            ckdb = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=10)
            ckdb.execute("PRAGMA synchronous=FULL")  # the database file is synced after each copy
            self.checkpoints = (ThreadPoolExecutor(1, thread_name_prefix="db-checkpoint"), ckdb)
            self.store.db.execute("PRAGMA wal_autocheckpoint=0")
            self.tasks.append(asyncio.ensure_future(self._checkpointer()))
        self.runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port, ssl_context=ssl_context)
        try:
            await site.start()
        except BaseException:
            await self.stop()
            raise
        self.port = self.runner.addresses[0][1]
        return self.port

    async def stop(self):
        """Close every connection (boards get 1000), finish pending writes, stop."""
        closing = [link.close(device.CLOSE_NORMAL, "server shutting down") for link in self.links.values()]
        closing += [sub.ws.close(code=1001, message=b"server shutting down") for sub in self.live]
        await asyncio.gather(*closing, return_exceptions=True)
        if self.runner is not None:
            await self.runner.cleanup()
        for t in self.tasks + list(self.bg):
            t.cancel()
        await asyncio.gather(*self.tasks, *self.bg, return_exceptions=True)
        self.dbx.shutdown(wait=True)
        if self.checkpoints is not None:
            ckx, ckdb = self.checkpoints
            ckx.shutdown(wait=True)
            ckdb.close()
            self.checkpoints = None
            self.store.db.execute("PRAGMA wal_autocheckpoint=%d" % WAL_AUTOCHECKPOINT)
        if getattr(self, "_gc_before", None):
            gc.set_threshold(*self._gc_before)
        if self.readx is not self.dbx:
            self.readx.shutdown(wait=True)
            self.reader.close()

    # ---- telemetry

    def add_telemetry(self, link, readings, dropped):
        """Queue one telemetry message of a connection for the writer, which stores it with others
        in one transaction and then calls `link.committed`. Returns a future: True once stored,
        False if the transaction failed (the writer then closes the connection with 1011)."""
        fut = asyncio.get_running_loop().create_future()
        self.wq.put_nowait((link, readings, dropped, fut))
        return fut

    async def _writer(self):
        while True:
            items = [await self.wq.get()]
            if self.batch_ms and self.wq.qsize() < self.batch_max:  # a full batch need not wait
                await asyncio.sleep(self.batch_ms / 1000)
            while not self.wq.empty() and len(items) < self.batch_max:
                items.append(self.wq.get_nowait())
            batch = [(link.device, readings, dropped) for link, readings, dropped, _ in items]
            try:
                # the new readings are worked out only when a browser follows live updates
                news = await self.db(self.store.add_telemetry, batch, now_ms(), bool(self.live))
            except Exception as e:
                log.exception("telemetry not stored")
                why = "the server could not store telemetry (%s); send it again later" % type(e).__name__
                for link, _, _, fut in items:
                    link.uncommitted -= 1
                    fut.set_result(False)
                    if link.closed_by is None:
                        self.spawn(link.close(device.CLOSE_ERROR, why))
                continue
            for (link, readings, dropped, fut), new in zip(items, news, strict=True):
                try:
                    link.committed(readings, dropped, new)
                except Exception:  # one connection's fault must not stop the acks of all the others
                    log.exception("device %s: ack not sent", link.device)
                fut.set_result(True)

    # ---- commands

    async def create_command(self, dev, method, params=None, timeout_s=None, deadline=None):
        """Queue a command (ProtocolError for bad method or params, StoreError if no such device);
        sends it at once when the device is online. Returns the command."""
        params = check_command(method, params)
        now = now_ms()
        if deadline is None:
            deadline = now + int(1000 * (self.command_timeout_s if timeout_s is None else timeout_s))

        link = self.links.get(dev)
        online = link is not None and link.ready

        def add():  # one trip to the database thread, which telemetry keeps busy
            if self.store.device(dev) is None:
                return None, None
            cmd = self.store.add_command(dev, method, params, deadline, now)
            return cmd, self.store.mark_sent(cmd["id"], now_ms()) if online else None

        cmd, marked = await self.db(add)
        if cmd is None:
            raise StoreError("not_found", "no device %r" % dev)
        log.info("device %s: command %s %s queued", dev, cmd["id"], method)
        self.publish_command(cmd)
        link = self.links.get(dev)
        if link is not None and link.ready:
            cmd = await link.send_command(cmd, marked) or cmd
        return cmd

    # ---- devices

    async def remove_device(self, dev):
        await self.db(self.store.remove_device, dev)
        self._kick(dev, "device removed")
        self.publish({"type": "removed", "device": dev}, dev)

    async def rotate_token(self, dev):
        token = await self.db(self.store.rotate_token, dev)
        self._kick(dev, "token rotated: connect with the new one")
        return token

    def _kick(self, dev, reason):
        link = self.links.get(dev)
        if link is not None and link.closed_by is None:
            self.spawn(link.close(device.CLOSE_POLICY, reason))

    async def link_closed(self, link):
        if self.links.get(link.device) is not link:
            return  # never said hello, or replaced by a newer connection
        del self.links[link.device]
        code = link.closed_by[0] if link.closed_by else link.ws.close_code
        log.info("device %s: offline (close code %s)", link.device, code)
        await self.db(self.store.set_offline, link.device, link.last_seen)
        ev = await self.db(
            self.store.add_event, link.device, "link", {"state": "offline", "code": code}, now_ms()
        )
        self.publish({"type": "event", "event": ev}, link.device)
        row = await self.db(self.store.device, link.device)
        if row is not None:
            self.publish({"type": "device", "device": self.summary(row)}, link.device)

    def summary(self, row, now=None):
        """What the API says about a device: its row, merged with its live connection if any."""
        link = self.links.get(row["id"])
        if link is not None and not link.ready:
            link = None
        if link is not None:
            row = link.row
        info = link.info if link is not None else row["info"]
        d = {
            "id": row["id"],
            "state": link.state(now or now_ms()) if link is not None else "offline",
            "last_seen": link.last_seen if link is not None else row["last_seen"],
            "connected_since": link.connected if link is not None else None,
            "address": link.address if link is not None else row["address"],
            "created": row["created"],
            "last_seq": row["last_seq"],
            "dropped": row["dropped"],
        }
        for k in INFO:
            d[k] = info.get(k)
        d["sensors"] = info.get("sensors", [])
        d["relays"] = info.get("relays", [])
        return d

    # ---- live updates

    def publish(self, msg, dev):
        if not self.live:
            return
        text = json.dumps(msg)
        for sub in list(self.live):
            if sub.device is None or sub.device == dev:
                sub.push(text)

    def publish_device(self, link):
        self.publish({"type": "device", "device": self.summary(link.row)}, link.device)

    def publish_command(self, cmd):
        self.publish({"type": "command", "command": cmd}, cmd["device"])

    # ---- housekeeping

    async def _checkpointer(self):
        ckx, ckdb = self.checkpoints
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.checkpoint_s)
            try:
                await loop.run_in_executor(ckx, ckdb.execute, "PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                log.exception("WAL checkpoint failed; trying again")

    async def _sweeper(self):
        last = {"touch": 0, "revoke": 0, "prune": 0, "gc": now_ms()}
        while True:
            await asyncio.sleep(self.sweep_s)
            try:
                await self._sweep(last)
            except Exception:
                log.exception("housekeeping failed; trying again")

    async def _sweep(self, last):
        now = now_ms()
        for c in await self.db(self.store.expire, now, self.result_grace_ms):
            log.info("device %s: command %s expired", c["device"], c["id"])
            self.publish_command(c)
        for link in list(self.links.values()):
            if not link.ready or link.closed_by is not None:
                continue
            state = link.state(now)
            if state != link.reported:
                link.reported = state
                log.info("device %s: %s", link.device, state)
                ev = await self.db(self.store.add_event, link.device, "link", {"state": state}, now)
                self.publish({"type": "event", "event": ev}, link.device)
                self.publish_device(link)
            if now - link.last_seen > 4 * self.lease_ms:
                silent = (now - link.last_seen) // 1000
                self.spawn(link.close(device.CLOSE_SILENT, "nothing heard for %d s" % silent))
            elif now - link.last_sent >= self.lease_ms // 3 and (link.pinging is None or link.pinging.done()):
                link.pinging = self.spawn(link.ping())
        # last-seen times of connected devices live in memory; the database gets them for after a
        # crash, every 30 s: a write of every device's row, which holds up other writes a moment
        if self.links and now - last["touch"] >= min(30_000, self.lease_ms // 2):
            last["touch"] = now
            await self.db(self.store.touch, [(d, link.last_seen) for d, link in self.links.items()])
        if now - last["revoke"] >= self.revoke_check_s * 1000:
            last["revoke"] = now
            self.limits.purge()
            if self.links:
                hashes = await self.read("token_hashes")
                for d, link in list(self.links.items()):
                    if hashes.get(d) != link.token_hash:
                        self._kick(d, "device removed or its token rotated")
        if self.gc_thresholds and now - last["gc"] >= self.gc_full_s * 1000:
            last["gc"] = now
            gc.collect()
        if self.retention_days and now - last["prune"] >= self.prune_every_s * 1000:
            last["prune"] = now
            n = await self.db(self.store.prune, now - int(self.retention_days * 86_400_000))
            if n:
                log.info("retention: pruned %d rows older than %g days", n, self.retention_days)
