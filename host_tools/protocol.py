"""The application protocol of docs/protocol.md (version 1) as data, and the checks that apply it.

Pure Python, no I/O. The server checks every message a board sends with `check_message` and every
command an operator asks for with `check_command`; `tests/host/test_protocol_doc.py` checks every
example of docs/protocol.md against the same schema, so the page and the code cannot drift apart.

A spec is a tuple: ("str", min_len, max_len), ("int", lo, hi), ("num",), ("bool",), ("null",),
("any",), ("enum", values), ("list", item, min, max), ("tuple", items), ("map", value, min, max),
("or", spec, spec), ("obj", fields, required, rules), ("switch", field, {value: spec}) (an object
checked by the spec its field's value selects). Objects ignore fields they do not know;
rules are ("one", a, b): exactly one of two fields, and ("if", field, value, needed): when field
has that value, `needed` must be there.
"""

import json
import math

VERSION = 1
MAX_INT = 2**53 - 1  # JSON numbers stay exact in every language (a browser's too) up to here

ID = ("str", 1, 64)
NAME = ("str", 1, 64)
TEXT = ("str", 0, 1024)
NSTR = ("or", ("str", 0, 128), ("null",))
MS = ("int", 0, MAX_INT)  # integer milliseconds: the ESP32's floats are single precision
SEQ = ("int", 1, MAX_INT)
BOOL = ("bool",)
CLOCK = ("enum", ("utc", "uptime"))
ERROR = ("obj", {"code": ("str", 1, 64), "message": TEXT}, ("code", "message"), ())
VALUE = ("tuple", (NAME, ("num",), ("str", 0, 16)))
READING = (
    "obj",
    {"seq": SEQ, "ts": MS, "clock": CLOCK, "sensor": NAME, "values": ("list", VALUE, 1, 32), "error": ERROR},
    ("seq", "ts", "clock", "sensor"),
    (("one", "values", "error"),),
)
SENSOR = (
    "obj",
    {"name": NAME, "kind": NSTR, "quantities": ("list", ("tuple", (NAME, ("str", 0, 16))), 0, 32)},
    ("name",),
    (),
)
RELAY = ("obj", {"name": NAME, "on": BOOL}, ("name", "on"), ())

# Board to server.
BOARD = {
    "hello": (
        "obj",
        {
            "v": ("int", 0, 1000),
            "device": ID,
            "fw": NSTR,
            "board": NSTR,
            "chip": NSTR,
            "boot": NSTR,
            "reset": NSTR,
            "uptime": MS,
            "config": NSTR,
            "safe_mode": BOOL,
            "seq": SEQ,
            "sensors": ("list", SENSOR, 0, 64),
            "relays": ("list", RELAY, 0, 64),
        },
        ("v", "device", "seq"),
        (),
    ),
    # A reading is checked on its own (check_reading), so that one bad reading cannot block the outbox.
    "telemetry": (
        "obj",
        {"dropped": ("int", 0, MAX_INT), "readings": ("list", ("obj", {"seq": SEQ}, ("seq",), ()), 0, 100)},
        ("readings",),
        (),
    ),
    "accepted": ("obj", {"id": ID}, ("id",), ()),
    "result": None,  # below: it may carry events
}
EVENTS = {
    "relay": (
        "obj",
        {"relay": NAME, "on": BOOL, "cause": NAME, "ts": MS, "clock": CLOCK},
        ("relay", "on", "cause", "ts", "clock"),
        (),
    ),
    "sensor": (
        "obj",
        {"sensor": NAME, "ok": BOOL, "error": ERROR, "ts": MS, "clock": CLOCK},
        ("sensor", "ok", "ts", "clock"),
        (("if", "ok", False, "error"),),
    ),
}
BOARD["event"] = ("switch", "kind", EVENTS)
BOARD["result"] = (
    "obj",
    {
        "id": ("or", ID, ("null",)),
        "ok": BOOL,
        "result": ("any",),
        "error": ERROR,
        "events": ("list", BOARD["event"], 0, 64),  # the relay changes the command caused
    },
    ("id", "ok"),
    (("if", "ok", False, "error"),),
)

# Server to board.
SERVER = {
    "welcome": (
        "obj",
        {"v": ("int", 0, 1000), "time": MS, "acked": ("int", 0, MAX_INT), "lease": ("int", 1, MAX_INT)},
        ("v", "time", "acked"),
        (),
    ),
    "ack": ("obj", {"seq": SEQ}, ("seq",), ()),
    "command": (
        "obj",
        {"id": ID, "method": NAME, "params": ("map", ("any",), 0, 64), "deadline": MS},
        ("id", "method"),
        (),
    ),
}

# Command methods: (params, required params). Params a method does not take are refused.
METHODS = {
    "relay.set": ({"relay": NAME, "on": BOOL}, ("relay", "on")),
    "relay.toggle": ({"relay": NAME}, ("relay",)),
    "relay.pulse": ({"relay": NAME, "ms": ("int", 1, 3_600_000)}, ("relay", "ms")),
    "relay.get": ({"relay": NAME}, ()),
    "sensors.read": ({"sensor": NAME}, ()),
    "status": ({}, ()),
    "config.get": ({}, ()),
    "config.set": ({"changes": ("map", ("any",), 1, 64)}, ("changes",)),
    "log.level": ({"level": ("enum", ("debug", "info", "warning", "error"))}, ("level",)),
    "reboot": ({}, ()),
}


class ProtocolError(ValueError):
    """A message breaks docs/protocol.md; the text names the field, what it should be and what it was."""


def check_message(msg, sender=None, readings=True):
    """Check one decoded message; returns it, or raises ProtocolError.

    sender: "board" or "server" to accept only that side's types, None for either.
    readings=False leaves each reading of a telemetry message but its seq to `check_reading`.
    """
    if type(msg) is not dict:
        raise ProtocolError("a message is a JSON object, got %s" % _show(msg))
    t = msg.get("type")
    table = BOARD if sender == "board" else SERVER if sender == "server" else dict(BOARD, **SERVER)
    if t not in table:
        other = SERVER if sender == "board" else BOARD if sender == "server" else {}
        if t in other:
            raise ProtocolError("'%s' is sent by the %s, not by the %s" % (t, _side(other), sender))
        raise ProtocolError("type must be one of %s, got %s" % (", ".join(table), _show(t)))
    _check(msg, table[t], t)
    if t == "telemetry" and readings:
        for i, r in enumerate(msg["readings"]):
            check_reading(r, "telemetry.readings[%d]" % i)
    return msg


def check_reading(reading, path="reading"):
    """Check one reading of a telemetry message; returns it, or raises ProtocolError."""
    _check(reading, READING, path)
    return reading


def check_command(method, params):
    """Check a command an operator asks for; returns its params (an object), or raises ProtocolError."""
    if method not in METHODS:
        raise ProtocolError("unknown method %s; methods: %s" % (_show(method), ", ".join(METHODS)))
    fields, required = METHODS[method]
    if params is None:
        params = {}
    if type(params) is not dict:
        raise ProtocolError("%s params: expected an object, got %s" % (method, _show(params)))
    for k in params:
        if k not in fields:
            takes = ", ".join(fields) if fields else "no params"
            raise ProtocolError("%s takes %s; %s is not one of them" % (method, takes, _show(k)))
    _check(params, ("obj", fields, required, ()), method)
    return params


def decode(text, sender="board"):
    """Parse and check one text frame; returns the message, or raises ProtocolError."""
    try:
        msg = json.loads(text)
    except ValueError as e:
        raise ProtocolError("not JSON (%s): %s" % (e.msg, _clip(text)))
    return check_message(msg, sender, readings=False)


def _side(table):
    return "board" if table is BOARD else "server"


def _check(v, spec, path):
    kind = spec[0]
    if kind == "str":
        if type(v) is not str:
            raise _wrong(path, spec, v)
        if not spec[1] <= len(v) <= spec[2]:
            raise ProtocolError("%s: expected %s, got %d characters" % (path, _describe(spec), len(v)))
    elif kind == "int":
        if type(v) is not int or not spec[1] <= v <= spec[2]:
            raise _wrong(path, spec, v)
    elif kind == "num":
        if type(v) not in (int, float) or not math.isfinite(v):
            raise _wrong(path, spec, v)
    elif kind == "bool":
        if type(v) is not bool:
            raise _wrong(path, spec, v)
    elif kind == "null":
        if v is not None:
            raise _wrong(path, spec, v)
    elif kind == "enum":
        if type(v) is not str or v not in spec[1]:
            raise _wrong(path, spec, v)
    elif kind in ("list", "tuple"):
        if type(v) is not list:
            raise _wrong(path, spec, v)
        items = spec[1] if kind == "tuple" else (spec[1],) * len(v)
        lo, hi = (len(items), len(items)) if kind == "tuple" else spec[2:4]
        if not lo <= len(v) <= hi:
            raise ProtocolError("%s: expected %s, got %d items" % (path, _describe(spec), len(v)))
        for i, (x, s) in enumerate(zip(v, items, strict=True)):
            _check(x, s, "%s[%d]" % (path, i))
    elif kind == "map":
        if type(v) is not dict or not spec[2] <= len(v) <= spec[3]:
            raise _wrong(path, spec, v)
        for k, x in v.items():
            _check(x, spec[1], "%s.%s" % (path, k))
    elif kind == "or":
        for s in spec[1:]:
            try:
                return _check(v, s, path)
            except ProtocolError:
                pass
        raise _wrong(path, spec, v)
    elif kind == "switch":
        if type(v) is not dict:
            raise _wrong(path, spec, v)
        case = v.get(spec[1])
        if case not in spec[2]:
            raise ProtocolError(
                "%s.%s: expected one of %s, got %s" % (path, spec[1], ", ".join(spec[2]), _show(case))
            )
        _check(v, spec[2][case], path)
    elif kind == "obj":
        if type(v) is not dict:
            raise _wrong(path, spec, v)
        fields, required, rules = spec[1:4]
        for k in required:
            if k not in v:
                raise ProtocolError("%s: missing field '%s' (%s)" % (path, k, _describe(fields[k])))
        for k, s in fields.items():
            if k in v:
                _check(v[k], s, "%s.%s" % (path, k))
        for rule in rules:
            if rule[0] == "one" and (rule[1] in v) == (rule[2] in v):
                raise ProtocolError(
                    "%s: needs either '%s' or '%s', not both or neither" % (path, rule[1], rule[2])
                )
            if rule[0] == "if" and v.get(rule[1]) is rule[2] and rule[3] not in v:
                raise ProtocolError(
                    "%s: missing field '%s' (needed when %s is %s)" % (path, rule[3], rule[1], _show(rule[2]))
                )


def _wrong(path, spec, v):
    return ProtocolError("%s: expected %s, got %s" % (path, _describe(spec), _show(v)))


def _describe(spec):
    kind = spec[0]
    if kind == "str":
        return "a string of %d to %d characters" % spec[1:3]
    if kind == "int":
        return "an integer from %d to %d" % spec[1:3]
    if kind == "num":
        return "a finite number"
    if kind == "bool":
        return "true or false"
    if kind == "null":
        return "null"
    if kind == "any":
        return "any value"
    if kind == "enum":
        return "one of " + ", ".join(spec[1])
    if kind == "list":
        return "a list of %d to %d items (each %s)" % (spec[2], spec[3], _describe(spec[1]))
    if kind == "tuple":
        return "a list [%s]" % ", ".join(_describe(s) for s in spec[1])
    if kind == "map":
        return "an object of %d to %d fields" % spec[2:4]
    if kind == "or":
        return " or ".join(_describe(s) for s in spec[1:])
    return "an object"


def _show(v):
    try:
        return _clip(json.dumps(v))
    except (TypeError, ValueError):
        return _clip(repr(v))


def _clip(text):
    return text if len(text) <= 60 else text[:57] + "..."
