"""The server's database: devices and their tokens, readings, commands and events, in SQLite.

Synchronous and single-threaded: the server runs every call on one thread of its own, the command
line calls it directly (both may use the same file at once: WAL and a busy timeout). A commit is on
disk when it returns (WAL with synchronous=FULL), so an ack sent after a commit is a promise kept.
Times are integer UTC milliseconds, as in docs/protocol.md.
"""

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import time

_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
  id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, created INTEGER NOT NULL,
  info TEXT NOT NULL DEFAULT '{}', last_seq INTEGER NOT NULL DEFAULT 0,
  dropped INTEGER NOT NULL DEFAULT 0, last_seen INTEGER, online INTEGER NOT NULL DEFAULT 0, address TEXT);
CREATE TABLE IF NOT EXISTS readings (
  device TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, clock TEXT NOT NULL,
  sensor TEXT NOT NULL, body TEXT NOT NULL, received INTEGER NOT NULL,
  PRIMARY KEY (device, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_received ON readings (received);
CREATE TABLE IF NOT EXISTS commands (
  id TEXT PRIMARY KEY, device TEXT NOT NULL, method TEXT NOT NULL, params TEXT NOT NULL,
  deadline INTEGER NOT NULL, state TEXT NOT NULL, at TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  result TEXT, error TEXT, created INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS commands_device ON commands (device, created);
CREATE INDEX IF NOT EXISTS commands_open ON commands (state) WHERE state IN ('queued', 'sent', 'accepted');
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL, time INTEGER NOT NULL,
  kind TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_device ON events (device, id);
CREATE INDEX IF NOT EXISTS events_time ON events (time);
"""

DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")

# Command states and the moves between them. `expired` can still become done or failed: a result
# that arrives late is the device's word that it acted, and the record must say so.
OPEN = ("queued", "sent", "accepted")
NEXT = {
    "queued": ("sent", "accepted", "done", "failed", "expired"),
    "sent": ("accepted", "done", "failed", "expired"),
    "accepted": ("done", "failed", "expired"),
    "expired": ("done", "failed"),
    "done": (),
    "failed": (),
}


class StoreError(Exception):
    """A request the database cannot satisfy: code is bad_id, exists or not_found."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


WAL_AUTOCHECKPOINT = 10000  # pages; the server checkpoints from a thread of its own instead


def now_ms():
    return int(time.time() * 1000)


def check_device_id(device):
    if type(device) is not str or not DEVICE_ID.match(device):
        raise StoreError(
            "bad_id",
            "device id %r: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
            % (device,),
        )
    return device


def open_store(data_dir, db=None):
    """The Store of a data directory: creates the directory, its database and its token key."""
    os.makedirs(data_dir, mode=0o700, exist_ok=True)  # tokens' key and hashes: the owner's only
    key_path = os.path.join(data_dir, "server.key")
    if not os.path.exists(key_path):
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    with open(key_path) as f:
        key = bytes.fromhex(f.read().strip())
    return Store(db or os.path.join(data_dir, "server.db"), key)


class Store:
    """Devices, readings, commands and events. Tokens are kept as HMAC-SHA256 under `key` only."""

    def __init__(self, path, key):
        self.key = key
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        self.db.row_factory = sqlite3.Row
        # A new database gets 1 KiB pages: a commit writes each page it touched, and readings of
        # many devices touch one page each, so smaller pages mean less to write (an existing
        # database keeps its page size).
        self.db.execute("PRAGMA page_size=1024")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        # Readings of many devices touch many pages: checkpoint less often (each page once for many
        # commits) and read through a memory map instead of a read() per page.
        self.db.execute("PRAGMA wal_autocheckpoint=%d" % WAL_AUTOCHECKPOINT)
        self.db.execute("PRAGMA mmap_size=268435456")
        self.db.executescript(_SCHEMA)

    def close(self):
        self.db.close()

    @contextlib.contextmanager
    def _tx(self):
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ---- devices

    def hash_token(self, token):
        return hmac.new(self.key, token.encode(), hashlib.sha256).hexdigest()

    def add_device(self, device):
        """Register a device; returns its token (kept only as a hash: show it once)."""
        check_device_id(device)
        token = secrets.token_urlsafe(24)
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO devices (id, token_hash, created) VALUES (?, ?, ?)",
                    (device, self.hash_token(token), now_ms()),
                )
        except sqlite3.IntegrityError:
            raise StoreError(
                "exists", "device %r exists; 'device rotate %s' gives it a new token" % (device, device)
            )
        return token

    def rotate_token(self, device):
        """A new token for a device; the old one stops working. Returns the new token."""
        token = secrets.token_urlsafe(24)
        with self._tx() as db:
            n = db.execute(
                "UPDATE devices SET token_hash = ? WHERE id = ?", (self.hash_token(token), device)
            ).rowcount
        if not n:
            raise StoreError("not_found", "no device %r" % (device,))
        return token

    def remove_device(self, device):
        """Forget a device with its readings, commands and events."""
        with self._tx() as db:
            if not db.execute("DELETE FROM devices WHERE id = ?", (device,)).rowcount:
                raise StoreError("not_found", "no device %r" % (device,))
            for table in ("readings", "commands", "events"):
                db.execute("DELETE FROM %s WHERE device = ?" % table, (device,))

    def device_by_token(self, token):
        """(device id, token hash) of the device holding this token, or None."""
        h = self.hash_token(token)
        row = self.db.execute("SELECT id FROM devices WHERE token_hash = ?", (h,)).fetchone()
        return (row[0], h) if row else None

    def token_hashes(self):
        return dict(self.db.execute("SELECT id, token_hash FROM devices"))

    def devices(self):
        return [_device(r) for r in self.db.execute(_DEVICES + " ORDER BY id")]

    def device(self, device):
        row = self.db.execute(_DEVICES + " WHERE id = ?", (device,)).fetchone()
        return _device(row) if row else None

    def set_online(self, device, info, address, now):
        with self._tx() as db:
            db.execute(
                "UPDATE devices SET info = ?, online = 1, address = ?, last_seen = ? WHERE id = ?",
                (json.dumps(info), address, now, device),
            )

    def set_info(self, device, info):
        with self._tx() as db:
            db.execute("UPDATE devices SET info = ? WHERE id = ?", (json.dumps(info), device))

    def set_offline(self, device, last_seen):
        with self._tx() as db:
            db.execute("UPDATE devices SET online = 0, last_seen = ? WHERE id = ?", (last_seen, device))

    def set_all_offline(self):
        with self._tx() as db:
            db.execute("UPDATE devices SET online = 0 WHERE online = 1")

    def touch(self, seen):
        """Record last-seen times: [(device, ms)], in one statement (thousands of devices at a time)."""
        with self._tx() as db:
            db.execute(
                "UPDATE devices SET last_seen = j.value->>1 FROM json_each(?) AS j"
                " WHERE devices.id = j.value->>0",
                (json.dumps(seen),),
            )

    # ---- readings

    def add_telemetry(self, batch, now, want_new=True):
        """Store many telemetry messages in one transaction: [(device, readings, dropped)].

        Readings already stored (same device and seq) are skipped, and so are the readings of a
        device that no longer exists. Returns, per message, the list of readings that were new,
        each with its `received` time; with want_new=False (nobody follows live updates) it
        returns None per message and writes the readings in one statement.
        """
        # devices.last_seq is not written here (a device's row for every reading would double what a
        # commit writes): the highest stored seq is read from the readings themselves (_DEVICES)
        # and saved in the row only before retention deletes readings.
        devices = list(dict.fromkeys(device for device, _, _ in batch))
        drops = [(dropped, device) for device, _, dropped in batch if dropped]
        with self._tx() as db:
            gone = ()
            if db.execute(_COUNT_DEVICES, (json.dumps(devices),)).fetchone()[0] != len(devices):
                have = {r[0] for r in db.execute("SELECT id FROM devices")}  # one was removed meanwhile
                gone = set(devices) - have
            if drops:
                db.executemany("UPDATE devices SET dropped = dropped + ? WHERE id = ?", drops)
            if not want_new:
                # One statement for the whole batch: SQLite takes the rows apart from one JSON text
                # (the body is what remains of a reading without its key fields), so Python's lock
                # is let go for the whole batch instead of taken back after every row.
                db.execute(_INSERT_MANY, (now, json.dumps(batch), json.dumps(list(gone))))
                return [None] * len(batch)
            out = []
            for device, readings, _ in batch:
                new = []
                for r in readings if device not in gone else ():
                    if db.execute(
                        "INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (device, r["seq"], r["ts"], r["clock"], r["sensor"], _body(r), now),
                    ).rowcount:
                        new.append(dict(r, received=now))
                out.append(new)
        return out

    def readings(self, device, after=None, limit=100, sensor=None):
        """Readings in seq order: those after seq `after`, or else the latest `limit`."""
        where, args = "device = ?", [device]
        if sensor is not None:
            where += " AND sensor = ?"
            args.append(sensor)
        if after is not None:
            rows = self.db.execute(
                "SELECT * FROM readings WHERE %s AND seq > ? ORDER BY seq LIMIT ?" % where,
                (*args, after, limit),
            ).fetchall()
        else:
            rows = self.db.execute(
                "SELECT * FROM readings WHERE %s ORDER BY seq DESC LIMIT ?" % where, (*args, limit)
            ).fetchall()[::-1]
        return [_reading(r) for r in rows]

    # ---- commands

    def add_command(self, device, method, params, deadline, now):
        cid = "c-" + secrets.token_hex(8)  # random, not counted: a wiped database must not reuse ids
        with self._tx() as db:
            db.execute(
                "INSERT INTO commands (id, device, method, params, deadline, state, at, created)"
                " VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
                (cid, device, method, json.dumps(params), deadline, json.dumps({"queued": now}), now),
            )
        return self.command(cid)

    def command(self, cid):
        row = self.db.execute("SELECT * FROM commands WHERE id = ?", (cid,)).fetchone()
        return _command(row) if row else None

    def commands(self, device, limit=50):
        rows = self.db.execute(
            "SELECT * FROM commands WHERE device = ? ORDER BY created DESC, rowid DESC LIMIT ?",
            (device, limit),
        )
        return [_command(r) for r in rows]

    def open_commands(self, device):
        """Commands of a device still waiting for their result, oldest first."""
        rows = self.db.execute(
            "SELECT * FROM commands WHERE device = ? AND state IN ('queued', 'sent', 'accepted')"
            " ORDER BY created, rowid",
            (device,),
        )
        return [_command(r) for r in rows]

    def move(self, cid, state, now, result=None, error=None):
        """Move a command to `state` if NEXT allows it; returns the command, or None if it did not move."""
        with self._tx() as db:
            row = db.execute("SELECT state, at FROM commands WHERE id = ?", (cid,)).fetchone()
            if row is None or state not in NEXT[row[0]]:
                return None
            at = json.loads(row[1])
            at.setdefault(state, now)
            db.execute(
                "UPDATE commands SET state = ?, at = ?,"
                " result = coalesce(?, result), error = coalesce(?, error) WHERE id = ?",
                (
                    state,
                    json.dumps(at),
                    None if result is None else json.dumps(result),
                    None if error is None else json.dumps(error),
                    cid,
                ),
            )
        return self.command(cid)

    def mark_sent(self, cid, now):
        """Count one transmission of an open command: queued becomes sent; one sent again keeps its
        state. One transaction. Returns the command (None if there is no such command)."""
        with self._tx() as db:
            row = db.execute("SELECT state, at FROM commands WHERE id = ?", (cid,)).fetchone()
            if row is not None and row[0] in OPEN:
                state, at = row[0], json.loads(row[1])
                if state == "queued":
                    state = "sent"
                    at.setdefault("sent", now)
                db.execute(
                    "UPDATE commands SET attempts = attempts + 1, state = ?, at = ? WHERE id = ?",
                    (state, json.dumps(at), cid),
                )
        return self.command(cid)

    def expire(self, now, grace):
        """Expire open commands past their deadline (sent ones `grace` ms later); returns them."""
        rows = self.db.execute(
            "SELECT id FROM commands WHERE (state = 'queued' AND deadline < ?)"
            " OR (state IN ('sent', 'accepted') AND deadline + ? < ?)",
            (now, grace, now),
        ).fetchall()
        out = []
        for (cid,) in rows:
            error = {"code": "expired", "message": "no result from the device before the deadline"}
            c = self.move(cid, "expired", now, error=error)
            if c:
                out.append(c)
        return out

    # ---- events

    def add_event(self, device, kind, data, now):
        with self._tx() as db:
            eid = db.execute(
                "INSERT INTO events (device, time, kind, data) VALUES (?, ?, ?, ?)",
                (device, now, kind, json.dumps(data)),
            ).lastrowid
        return {"id": eid, "device": device, "time": now, "kind": kind, "data": data}

    def events(self, device, after=None, limit=100):
        if after is not None:
            rows = self.db.execute(
                "SELECT * FROM events WHERE device = ? AND id > ? ORDER BY id LIMIT ?", (device, after, limit)
            ).fetchall()
        else:
            rows = self.db.execute(
                "SELECT * FROM events WHERE device = ? ORDER BY id DESC LIMIT ?", (device, limit)
            ).fetchall()[::-1]
        return [
            {
                "id": r["id"],
                "device": r["device"],
                "time": r["time"],
                "kind": r["kind"],
                "data": json.loads(r["data"]),
            }
            for r in rows
        ]

    # ---- retention

    def prune(self, before, chunk=5000):
        """Delete readings, events and finished commands older than `before` (ms), in small
        transactions so writers are never held up for long. Returns how many rows went."""
        with self._tx() as db:  # the highest seq of each device outlives its readings
            db.execute(
                "UPDATE devices SET last_seq = max(last_seq,"
                " coalesce((SELECT max(seq) FROM readings WHERE device = devices.id), 0))"
            )
        total = 0
        steps = (
            "DELETE FROM readings WHERE (device, seq) IN"
            " (SELECT device, seq FROM readings WHERE received < ? LIMIT %d)" % chunk,
            "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time < ? LIMIT %d)" % chunk,
            "DELETE FROM commands WHERE id IN (SELECT id FROM commands WHERE created < ?"
            " AND state NOT IN ('queued', 'sent', 'accepted') LIMIT %d)" % chunk,
        )
        for sql in steps:
            while True:
                with self._tx() as db:
                    n = db.execute(sql, (before,)).rowcount
                total += n
                if n < chunk:
                    break
        return total


def _device(r):
    return {
        "id": r["id"],
        "created": r["created"],
        "info": json.loads(r["info"]),
        "last_seq": r["last_seq"],
        "dropped": r["dropped"],
        "last_seen": r["last_seen"],
        "online": bool(r["online"]),
        "address": r["address"],
    }


_DEVICES = (
    "SELECT id, created, info, dropped, last_seen, online, address, max(last_seq,"
    " coalesce((SELECT max(seq) FROM readings WHERE device = devices.id), 0)) AS last_seq FROM devices"
)
_COUNT_DEVICES = "SELECT count(*) FROM devices WHERE id IN (SELECT value FROM json_each(?))"
_INSERT_MANY = (
    "INSERT OR IGNORE INTO readings SELECT m.value->>0, r.value->>'seq', r.value->>'ts',"
    " r.value->>'clock', r.value->>'sensor', json_remove(r.value, '$.seq', '$.ts', '$.clock', '$.sensor'),"
    " ?1 FROM json_each(?2) AS m, json_each(m.value, '$[1]') AS r"
    " WHERE m.value->>0 NOT IN (SELECT value FROM json_each(?3))"
)


def _body(r):
    """What a reading stores besides its key fields: its values, or its error."""
    return json.dumps({"error": r["error"]} if "error" in r else {"values": r["values"]})


def _reading(r):
    d = {"seq": r["seq"], "ts": r["ts"], "clock": r["clock"], "sensor": r["sensor"]}
    d.update(json.loads(r["body"]))
    d["received"] = r["received"]
    return d


def _command(r):
    return {
        "id": r["id"],
        "device": r["device"],
        "method": r["method"],
        "params": json.loads(r["params"]),
        "deadline": r["deadline"],
        "state": r["state"],
        "at": json.loads(r["at"]),
        "attempts": r["attempts"],
        "result": None if r["result"] is None else json.loads(r["result"]),
        "error": None if r["error"] is None else json.loads(r["error"]),
    }
