"""The message layer of docs/protocol.md, sans I/O: the outbox, acks, the clock, commands in, replies out.

Link turns what the application observes into JSON text to send, and the server's text into
actions; it never touches a socket, a pin or a clock (times `now` are uptime milliseconds passed in).
- Outbox: readings get a sequence number from a persisted reservation (`seq_block` saves the next
  block's start before any number of it is used, so numbers never repeat across power loss) and
  stay until a cumulative ack covers them; after a reconnect everything unacked is sent again.
  When full the oldest is dropped and counted in the next telemetry message.
- Clock: uptime-stamped until the server's welcome (or NTP) gives UTC; then readings still waiting
  are sent with UTC times. Integers only: the ESP32's floats are single precision.
- Commands: parsed and checked here (shape, deadline); a repeated id gets the remembered result and
  is not executed again. What a command does is the application's business.
"""

import json

from app.errors import AppError

VERSION = 1
BATCH = 10  # unsent readings that make telemetry due at once
# The readings of one telemetry message: about this many bytes (10 or so). A message is made
# whole and copied into the connection's send buffer, which keeps the size of the largest frame:
# several smaller messages need no large block of heap.
BATCH_BYTES = 1024
_SEQ_BLOCK = 1000
# Bytes of remembered results: one of up to 120 bytes stays for at least the 15 after it, so the
# last 16 relay commands' results are there (about 80 bytes each with the reference server's ids).
REMEMBER = 2048
_SLOTS = 32  # and at most this many


class Link:
    def __init__(self, seq, seq_block=None, outbox=200, remember=REMEMBER):
        self.seq = seq  # the next reading's number
        self.reserved = seq  # numbers below this are covered by the persisted reservation
        self.seq_block = seq_block  # callable(next_start): persists a new reservation
        self.size = outbox
        self.box = []  # (seq, t_ms (uptime), the rest of the reading as JSON): ~half the heap of values
        self.sent = 0  # highest seq sent on this connection
        self.dropped = 0  # dropped since the last telemetry message
        self.dropped_total = 0
        self.acked = 0
        self.utc = None  # UTC ms at uptime 0, once known
        # The latest results, in a ring of bytes made at boot: each is '\n' and its text after
        # _HEAD (its id first), the next one or a zero byte after it. No object per result and
        # no hole it leaves in the heap. A newer result that cuts into an older one starts where
        # that one's '\n' was, so the rest of it is never found. Each of the last _SLOTS results
        # has a slot: a byte of its id's hash in tags (searched in C) and its offset in offs.
        self.mem = bytearray(remember)
        self.at = 0  # where the next one goes
        self.tags = bytearray(_SLOTS)
        self.offs = bytearray(2 * _SLOTS)
        self.slot = 0  # the next slot
        self.welcomed = False
        self.lease = None  # ms, from the welcome

    # ---- readings

    def reading(self, t_ms, sensor, values=None, error=None):
        """Queue one reading; values is [[quantity, value, unit], ...] or error {code, message}."""
        if self.seq >= self.reserved:
            self.reserved = self.seq + _SEQ_BLOCK
            if self.seq_block:
                self.seq_block(self.reserved)
        if len(self.box) >= self.size:
            self.box.pop(0)
            self.dropped += 1
            self.dropped_total += 1
        n = self.seq
        self.seq = n + 1
        # Encoded now: a string takes about half the heap of the lists and floats it stands for,
        # which counts with a full outbox. The time is written when sent (the clock may be set).
        rest = '"sensor": %s, "%s": %s}' % (
            json.dumps(sensor),
            "values" if error is None else "error",
            json.dumps(values if error is None else error),
        )
        self.box.append((n, t_ms, rest))
        return n

    def stamp(self, t_ms):
        """'"ts": N, "clock": "utc"|"uptime"' for an uptime in ms."""
        if self.utc is None:
            return '"ts": %d, "clock": "uptime"' % t_ms
        return '"ts": %d, "clock": "utc"' % (self.utc + t_ms)

    def due(self, now, hold):
        """Whether unsent readings should go now: the oldest waited `hold` ms, or a batch is full."""
        box = self.box
        if not box or box[-1][0] <= self.sent:
            return self.dropped > 0
        # The box holds consecutive numbers, so the unsent ones are its tail: no scan needed.
        unsent = box[-1][0] - max(self.sent, box[0][0] - 1)
        return unsent >= BATCH or now - box[-unsent][1] >= hold or self.dropped > 0

    def telemetry(self):
        """The next telemetry message to send (JSON text), or None when everything was sent."""
        if not self.welcomed:
            return None
        out = []
        size = 0
        for r in self.box:
            if r[0] > self.sent:
                out.append('{"seq": %d, %s, %s' % (r[0], self.stamp(r[1]), r[2]))
                self.sent = r[0]
                size += len(out[-1])
                if size >= BATCH_BYTES:
                    break
        if not out and not self.dropped:
            return None
        msg = '{"type": "telemetry", "dropped": %d, "readings": [%s]}' % (self.dropped, ", ".join(out))
        self.dropped = 0
        return msg

    def unacked(self):
        return len(self.box)

    def ack(self, seq):
        if seq > self.acked:
            self.acked = seq
        box = self.box
        i = 0
        while i < len(box) and box[i][0] <= seq:
            i += 1
        if i:
            self.box = box[i:]

    # ---- connection

    def connected(self):
        """A new connection: nothing sent on it yet, and no welcome."""
        self.sent = 0
        self.welcomed = False

    def hello(self, info, now):
        """The hello message; info holds the fields the application knows (docs/protocol.md)."""
        info["type"] = "hello"
        info["v"] = VERSION
        info["seq"] = self.seq
        info["uptime"] = now
        return json.dumps(info)

    def set_clock(self, utc_ms, now):
        self.utc = utc_ms - now

    def now_utc(self, now):
        return None if self.utc is None else self.utc + now

    def relay_event(self, now, name, on, cause, inside=False):
        """event() of a relay change, formatted directly: it goes with most commands' results."""
        return '{%s"kind": "relay", "relay": %s, "on": %s, "cause": "%s", %s}' % (
            "" if inside else '"type": "event", ',
            json.dumps(name),
            "true" if on else "false",
            cause,  # one of the firmware's own words
            self.stamp(now),
        )

    def event(self, now, fields):
        fields["type"] = "event"
        s = json.dumps(fields)
        return s[:-1] + ", " + self.stamp(now) + "}"

    # ---- what the server says

    def received(self, text, now):
        """Handle one text message from the server.

        Returns (action, value): ("welcome", msg), ("ack", seq), ("command", (id, method, params)),
        ("reply", JSON text to send at once: a remembered result or an error), or (None, None) for
        messages this version ignores. Raises AppError("protocol", ...) when the server breaks the
        protocol in a way that ends the connection (a wrong version).
        """
        try:
            m = json.loads(text)
        except ValueError:
            return "reply", result(None, error=("bad_json", "not JSON: %s" % _clip(text)))
        if type(m) is not dict:
            return "reply", result(None, error=("bad_json", "not a JSON object: %s" % _clip(text)))
        t = m.get("type")
        if t == "ack":
            seq = m.get("seq")
            if type(seq) is int:
                self.ack(seq)
                return "ack", seq
            return None, None
        if t == "command":
            return self.command(m, now)
        if t == "welcome":
            v = m.get("v")
            if v != VERSION:
                raise AppError(
                    "protocol", "the server speaks protocol version %r, this board %d" % (v, VERSION)
                )
            ts = m.get("time")
            if type(ts) is int and ts > 0:
                self.set_clock(ts, now)
            a = m.get("acked")
            if type(a) is int:
                self.ack(a)
            lease = m.get("lease")
            if type(lease) is int and lease > 0:
                self.lease = lease
            self.welcomed = True
            return "welcome", m
        return None, None

    def command(self, m, now):
        cid = m.get("id")
        if type(cid) is not str or not 0 < len(cid) <= 64:
            return "reply", result(
                None, error=("bad_message", "command id must be a string of 1 to 64 characters")
            )
        done = self.remembered(cid)
        if done is not None:
            return "reply", done
        method = m.get("method")
        params = m.get("params", {})
        if type(method) is not str:
            return "reply", self.done(cid, error=("bad_message", "command %s has no method" % cid))
        if type(params) is not dict:
            return "reply", self.done(cid, error=("bad_params", "params must be an object"))
        deadline = m.get("deadline")
        if deadline is not None:
            if type(deadline) is not int:
                return "reply", self.done(
                    cid, error=("bad_message", "deadline must be UTC milliseconds (an integer)")
                )
            utc = self.now_utc(now)
            if utc is not None and utc > deadline:
                return "reply", self.done(
                    cid, error=("expired", "the deadline passed %d ms ago" % (utc - deadline))
                )
        return "command", (cid, method, params)

    def done(self, cid, value=None, error=None, events=None):
        """Remember and return the result message of command cid (value or (code, message)).
        events, JSON objects of the relay changes the command caused, go in the text returned,
        not in the one remembered: a repeat must not report a change twice."""
        if not events:
            text = _result(cid, value, error, "}")
            self._keep(cid, text, "")
            return text
        head = _result(cid, value, error, "")
        self._keep(cid, head, "}")
        return '%s, "events": [%s]}' % (head, events[0] if len(events) == 1 else ", ".join(events))

    def _keep(self, cid, text, end):
        # Into the ring: text after _HEAD, then end. No copy of text on MicroPython, where a
        # str shows its bytes to memoryview (a status result is over 600 bytes).
        b = _utf8(text)
        n = len(b) - len(_HEAD) + 1 + len(end)
        mem = self.mem
        size = len(mem)
        if n > size:  # larger than the ring (a large config.get, which only reads): not kept
            return
        p = self.at
        if p + n > size:  # the end of the ring keeps its older results; this one starts over
            p = 0
        mem[p] = 10
        mem[p + 1 : p + n - len(end)] = memoryview(b)[len(_HEAD) :]
        if end:
            mem[p + n - 1] = 125  # }
        i = self.slot
        self.slot = (i + 1) % _SLOTS
        self.tags[i] = hash(cid) & 255
        self.offs[2 * i] = p & 255
        self.offs[2 * i + 1] = p >> 8
        p += n
        if p < size and mem[p] != 10:
            mem[p] = 0  # the rest of a result this one cut into
        self.at = p

    def remembered(self, cid):
        """The result JSON of command cid if it is still in the ring, else None (the newest if
        the id came twice)."""
        tags = self.tags
        h = hash(cid) & 255
        i = tags.find(h)
        if i < 0:  # a new id, almost always: no need to format it for a search
            return None
        mem = self.mem
        offs = self.offs
        key = ("\n%s, " % json.dumps(cid)).encode()
        found = None
        age = _SLOTS
        while i >= 0:  # the slots whose tag is that byte: the newest that still holds cid
            o = offs[2 * i] | offs[2 * i + 1] << 8
            a = (self.slot - 1 - i) % _SLOTS
            if a < age and mem.find(key, o, o + len(key)) == o:
                found = o
                age = a
            i = tags.find(h, i + 1)
        if found is None:
            return None
        end = len(mem)
        for stop in (b"\n", b"\0"):
            j = mem.find(stop, found + 1)
            if 0 <= j < end:
                end = j
        return _HEAD + str(memoryview(mem)[found + 1 : end], "utf-8")


def result(cid, value=None, error=None):
    return _result(cid, value, error, "}")


_HEAD = '{"type": "result", "id": '  # how _result's texts start: not kept in the ring
try:
    memoryview("")
    _utf8 = memoryview  # MicroPython: a str's UTF-8 bytes, without a copy
except TypeError:  # CPython
    _utf8 = str.encode


def _result(cid, value, error, end):
    # The result message, formatted around the values and ending with `end`: no dict for the
    # envelope, and no copy to add the closing brace or the events.
    if error is None:
        return '{"type": "result", "id": %s, "ok": true, "result": %s%s' % (
            json.dumps(cid),
            json.dumps(value),
            end,
        )
    return '{"type": "result", "id": %s, "ok": false, "error": {"code": %s, "message": %s}%s' % (
        json.dumps(cid),
        json.dumps(error[0]),
        json.dumps(error[1]),
        end,
    )


def accepted(cid):
    return '{"type": "accepted", "id": %s}' % json.dumps(cid)


def _clip(text):
    return repr(text[:40]) + ("..." if len(text) > 40 else "")
