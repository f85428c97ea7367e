"""config.json and board.json: load, check against the chip's pin rules, redact, change at run time.

Runs on the board and in host tools (CPython). Every message names the field and the fix; the
schema is in docs/config.md. Nothing here raises for bad file content: problems are messages.
"""

import json
from binascii import hexlify
from hashlib import sha256

from app.errors import AppError

KINDS = ("chip_temperature", "analog", "dht11", "dht22", "ds18b20", "bme280")
LOG_LEVELS = ("debug", "info", "warning", "error")
_NO = ()  # a key that is absent (JSON has no empty tuple)
_SECRET = ("token", "password")
# Fields of each object: (key, default, rule); default _NO = required, None = optional.
_TOP = (
    ("device_id", _NO, "text"),
    ("token", _NO, "text"),
    ("server", _NO, "url"),
    ("wifi", _NO, "list"),
    ("board", None, "text"),
    ("relays", None, "list"),
    ("sensors", None, "list"),
    ("intervals", None, "object"),
    ("outbox", 200, "int>0"),
    ("log_level", "info", LOG_LEVELS),
)
_WIFI = (("ssid", _NO, "text"), ("password", _NO, "str"))
_RELAY = (
    ("name", _NO, "text"),
    ("pin", _NO, "pin"),
    ("active_low", False, "bool"),
    ("boot", "off", ("off", "on", "restore")),
    ("max_on_s", 0, ">=0"),
    ("interlock", None, "text"),
    ("dead_time_ms", 100, "int>=0"),
    ("on_link_loss", "off", ("hold", "off", "on")),
)
_SENSOR = (
    ("name", _NO, "text"),
    ("kind", _NO, KINDS),
    ("pin", None, "pin"),
    ("interval", 10, ">0"),
    ("filters", None, "list"),
    ("atten", None, (0, 2.5, 6, 11)),
    ("calibration", None, "cal"),
    ("quantity", None, "text"),
    ("unit", None, "text"),
    ("roms", None, "object"),
    ("bus", None, "int>=0"),
    ("sda", None, "pin"),
    ("scl", None, "pin"),
    ("address", None, (0x76, 0x77)),
)
_INTERVALS = (
    ("telemetry", 10, ">0"),
    ("lease", 60, ">0"),
    ("link_loss_grace", 10, ">0"),
    ("keepalive", 20, ">0"),
    ("reconnect_max", 60, ">0"),
)
# What config.set may change: key (as "intervals.NAME", "relays.NAME.FIELD"...) -> fields.
_SETTABLE = {"relays": ("max_on_s", "on_link_loss"), "sensors": ("interval", "filters")}
_WHAT = {
    "bool": "true or false",
    "text": "a non-empty string",
    "str": 'a string ("" for none)',
    "url": 'a WebSocket URL starting with ws:// or wss://, such as "wss://example.com/device"',
    "list": "a list [...]",
    "object": "an object {...}",
    "pin": "a GPIO number such as 26",
    "cal": "two [millivolts, value] points such as [[2200, 0], [900, 100]]",
    ">0": "a number > 0",
    ">=0": "a number >= 0",
    "int>0": "an integer > 0",
    "int>=0": "an integer >= 0",
}


def _show(v):
    return json.dumps(v)


def _join(items):
    # "a, b or c" ("" for none)
    items = [_show(i) if isinstance(i, str) else str(i) for i in items]
    return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else "".join(items)


def _what(rule):
    return "one of " + _join(rule) if isinstance(rule, tuple) else _WHAT[rule]


def _ok(v, rule):
    if isinstance(rule, tuple):
        return v in rule and not isinstance(v, bool)
    if rule == "bool":
        return isinstance(v, bool)
    if rule in ("text", "str", "url"):
        ok = isinstance(v, str) and (v != "" or rule == "str")
        return ok and (
            rule != "url" or v.startswith("ws://") and len(v) > 5 or v.startswith("wss://") and len(v) > 6
        )
    if rule == "list":
        return isinstance(v, list)
    if rule == "object":
        return isinstance(v, dict)
    if rule == "cal":
        ok = isinstance(v, list) and len(v) == 2
        ok = ok and all(
            isinstance(p, list) and len(p) == 2 and _ok(p[0], "num") and _ok(p[1], "num") for p in v
        )
        return ok and v[0][0] != v[1][0]
    if isinstance(v, bool) or not isinstance(v, int if rule[0] in "ip" else (int, float)):
        return False
    return v > 0 if rule[-2:] == ">0" else v >= 0 if rule[-3:] == ">=0" else True


def _fields(d, path, table, errors, warnings):
    """A copy of object d with defaults, each field checked; unknown keys are kept and warned."""
    known = [t[0] for t in table]
    out = dict(d)
    for k in d:
        if k not in known:
            warnings.append(
                "%s%s: unknown key, ignored; check its spelling (known: %s)" % (path, k, ", ".join(known))
            )
    for key, default, rule in table:
        v = d.get(key, default)
        if v is _NO:
            errors.append("%s%s: missing; set it to %s" % (path, key, _what(rule)))
        elif v is not None or default is not None:
            if not _ok(v, rule):
                shown = "the value given (hidden)" if key in _SECRET else _show(v)
                errors.append("%s%s: must be %s, not %s" % (path, key, _what(rule), shown))
            out[key] = v
    return out


def _items(out, key, table, errors, warnings):
    # Checks the list out[key] of objects in place; returns [(path, object)] of the well-formed ones.
    items = out.get(key)
    out[key] = items = list(items) if isinstance(items, list) else []  # a copy: cfg stays as it was
    res = []
    for i, d in enumerate(items):
        p = "%s[%d]" % (key, i)
        if isinstance(d, dict):
            items[i] = d = _fields(d, p + ".", table, errors, warnings)
            res.append((p, d))
        else:
            errors.append("%s: must be an object {...}, not %s" % (p, _show(d)))
    names = {}
    for p, d in res:
        n = d.get("name", d.get("ssid"))
        if not isinstance(n, str):
            continue
        if n not in names:
            names[n] = p
        elif "name" in d:
            errors.append(
                "%s.name: %s is already the name of %s; give each one its own name" % (p, _show(n), names[n])
            )
        else:
            warnings.append("%s.ssid: %s is already listed as %s; remove one" % (p, _show(n), names[n]))
    return res


def _pin(ctx, path, pin, need, share=None):
    # Chip rules for one pin; need: "relay" or "out" (drives the pin) or "adc" (analog input).
    board, errors, warnings, used = ctx
    if not _ok(pin, "pin") or "gpios" not in board:
        return  # a wrong type is already reported; without a board there are no rules
    chip = board.get("chip")
    reserved = board.get("reserved", {}).get(str(pin))
    bad = None
    if pin not in board["gpios"]:
        bad = "does not exist on the " + chip
    elif pin in board.get("flash_pins", ()):
        bad = "is wired to the flash chip on the %s (using it crashes the board)" % chip
    elif reserved:
        bad = "is %s on the %s" % (reserved, chip)
    elif need == "adc":
        if pin in board.get("adc2", ()):
            bad = "is on ADC2 of the %s, which cannot be read while Wi-Fi is on" % chip
        elif pin not in board.get("adc1", ()):
            bad = "has no ADC on the " + chip
    elif pin in board.get("input_only", ()):
        bad = "is input-only on the " + chip
    if bad:
        free = [
            g
            for g in board.get("adc1" if need == "adc" else "good_outputs", ())
            if g not in used and g != pin
        ]
        use = "an ADC1 pin" if need == "adc" else "an output-capable pin"
        errors.append(
            "%s: GPIO %d %s; use %s%s" % (path, pin, bad, use, " such as " + _join(free[:5]) if free else "")
        )
        return
    first = used.get(pin)
    if first and (share is None or first[1] != share):
        errors.append(
            "%s: GPIO %d is already used by %s; give each device its own pin" % (path, pin, first[0])
        )
        return
    if not first:
        used[pin] = (path, share)
    if need == "relay" and pin in board.get("strapping", ()):
        warnings.append(
            "%s: GPIO %d is a strapping pin of the %s: the relay may click at power-up; prefer %s"
            % (
                path,
                pin,
                chip,
                _join([g for g in board.get("good_outputs", ()) if g not in used][:5]) or "another pin",
            )
        )
    if pin == board.get("led"):
        warnings.append(
            "%s: GPIO %d also drives the board's LED; the LED will follow this device" % (path, pin)
        )


def check(cfg, board):
    """(cfg with defaults, errors, warnings) for a parsed config.json against a board.json dict."""
    warnings = []
    if not isinstance(cfg, dict):
        what = "a list" if isinstance(cfg, list) else "a string" if isinstance(cfg, str) else _show(cfg)
        return cfg, ["config.json: must be a JSON object {...}, not %s; see docs/config.md" % what], warnings
    errors = []
    board = board if isinstance(board, dict) else {}
    used = {}  # GPIO -> (field path, share tag) of its first user
    ctx = (board, errors, warnings, used)
    out = _fields(cfg, "", _TOP, errors, warnings)
    nets = _items(out, "wifi", _WIFI, errors, warnings)
    if cfg.get("wifi") == []:
        errors.append(
            'wifi: empty; list the networks to join in priority order: [{"ssid": "...", "password": "..."}]'
        )
    for p, w in nets:
        pw, ssid = w.get("password"), w.get("ssid")
        if isinstance(pw, str) and pw and not 8 <= len(pw) <= 64:
            errors.append(
                "%s.password: has %d characters; WPA2 needs 8 to 63 (or 64 hex digits), or "
                '"" for an open network' % (p, len(pw))
            )
        if isinstance(ssid, str) and len(ssid.encode()) > 32:
            errors.append("%s.ssid: longer than 32 bytes; Wi-Fi network names have at most 32" % p)
    groups = {}
    for p, r in _items(out, "relays", _RELAY, errors, warnings):
        _pin(ctx, p + ".pin", r.get("pin"), "relay")
        g = r.get("interlock")
        if isinstance(g, str):
            groups[g] = groups.get(g, []) + [p]
    for g in groups:
        if len(groups[g]) == 1:
            warnings.append(
                "%s.interlock: %s has no other relay; give the relays that must never be on together "
                'the same "interlock"' % (groups[g][0], _show(g))
            )
    buses = {}
    for p, s in _items(out, "sensors", _SENSOR, errors, warnings):
        kind, pin = s.get("kind"), s.get("pin")
        s.setdefault("filters", [])
        if kind == "bme280":
            bus = s.setdefault("bus", 0)
            addr = s.setdefault("address", 0x76)
            i2c = board.get("i2c", ())
            if not _ok(bus, "int>=0"):
                continue
            if "gpios" in board and bus >= len(i2c):
                errors.append(
                    "%s.bus: the %s has no I2C bus %d; use %s"
                    % (p, board["chip"], bus, _join(range(len(i2c))))
                )
                continue
            for k in ("scl", "sda"):
                if k not in s and bus < len(i2c):
                    s[k] = i2c[bus][k]
                _pin(ctx, "%s.%s" % (p, k), s.get(k), "out", "i2c%d" % bus)
            if s.get("sda") == s.get("scl") is not None:
                errors.append("%s.scl: the same GPIO as sda; wire SCL and SDA to two pins" % p)
            if not _ok(addr, (0x76, 0x77)):
                continue
            if (bus, addr) in buses:
                errors.append(
                    "%s.address: %d is already used on I2C bus %d by %s; "
                    "set one sensor's address to %d (its SDO pin)"
                    % (p, addr, bus, buses[(bus, addr)], 0xED - addr)
                )
            buses[(bus, addr)] = p
        elif kind == "chip_temperature":
            if pin is not None:
                warnings.append("%s.pin: ignored; the temperature sensor is inside the chip" % p)
        elif kind in KINDS:
            if pin is None:
                errors.append("%s.pin: missing; set it to the GPIO number the %s is wired to" % (p, kind))
            _pin(
                ctx,
                p + ".pin",
                pin,
                "adc" if kind == "analog" else "out",
                "1wire" if kind == "ds18b20" else None,
            )
    iv = out.get("intervals")
    out["intervals"] = _fields(iv if isinstance(iv, dict) else {}, "intervals.", _INTERVALS, errors, warnings)
    if _ok(out["outbox"], "int>0") and out["outbox"] > 1000:
        warnings.append(
            "outbox: %d readings may not fit in the board's heap; 200 to 1000 is safe" % out["outbox"]
        )
    return out, errors, warnings


def check_board(board):
    """The errors of a parsed board.json (types and shapes; boards/*.json are the examples)."""
    if not isinstance(board, dict):
        return ["board.json: must be a JSON object {...}, not %s; copy one from boards/" % _show(board)[:40]]
    errors = []
    for k in ("name", "chip"):
        if not _ok(board.get(k), "text"):
            errors.append('board.json: %s: must be a non-empty string such as "ESP32"' % k)
    for k in ("gpios", "flash_pins", "input_only", "strapping", "adc1", "adc2", "good_outputs"):
        v = board.get(k, [])
        if not isinstance(v, list) or not all(_ok(g, "int>=0") for g in v) or k == "gpios" and not v:
            errors.append("board.json: %s: must be a list of GPIO numbers such as [25, 26]" % k)
    v = board.get("i2c", [])
    if not isinstance(v, list) or not all(
        isinstance(b, dict) and _ok(b.get("scl"), "pin") and _ok(b.get("sda"), "pin") for b in v
    ):
        errors.append(
            'board.json: i2c: must be a list of default pins per bus such as [{"scl": 18, "sda": 19}]'
        )
    v = board.get("reserved", {})
    if not isinstance(v, dict) or not all(isinstance(r, str) for r in v.values()):
        errors.append(
            'board.json: reserved: must map GPIO numbers to what uses them, such as {"1": "UART0 TX"}'
        )
    if not _ok(board.get("led", 0), "pin"):
        errors.append("board.json: led: must be the LED's GPIO number")
    return errors


def _read(name, errors, hint):
    # (bytes, parsed JSON); bytes None when the file is unreadable, parsed _NO when it is not JSON.
    try:
        with open(name, "rb") as f:
            raw = f.read()
    except OSError:
        errors.append("%s: missing; %s" % (name, hint))
        return None, _NO
    try:
        return raw, json.loads(raw.decode())
    except ValueError as e:  # MicroPython's UnicodeError is a ValueError too
        errors.append("%s: not valid JSON (%s); fix its syntax" % (name, e))
        return raw, _NO


def _digest(raw):
    return hexlify(sha256(raw).digest())[:16].decode()


def file_hash(path="config.json"):
    """The first 16 hex digits of the SHA-256 of a file's bytes (None when unreadable)."""
    h = sha256()
    buf = bytearray(128)  # in small pieces: a fragmented heap may have no block for the whole file
    try:
        with open(path, "rb") as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                h.update(memoryview(buf)[:n])
    except OSError:
        return None
    return hexlify(h.digest())[:16].decode()


def load():
    """(cfg, board, errors, warnings, hash) from config.json and board.json in the current folder.

    cfg has its defaults filled in ({} when unusable), board is {} when unusable, hash is the first
    16 hex digits of the SHA-256 of config.json's bytes (None without the file). Never raises: any
    problem is a message in errors, and a board with errors belongs in safe mode.
    """
    errors = []
    _, board = _read(
        "board.json", errors, "copy the board's file from boards/ (e.g. boards/esp32-devkitc.json)"
    )
    if board is not _NO:
        e = check_board(board)
        errors.extend(e)
        board = {} if e else board
    raw, cfg = _read("config.json", errors, "write one as docs/config.md shows and copy it to the board")
    digest = None if raw is None else _digest(raw)
    warnings = []
    if cfg is not _NO:
        cfg, e, warnings = check(cfg, board or {})
        errors.extend(e)
    return (cfg if isinstance(cfg, dict) else {}), board or {}, errors, warnings, digest


def redacted(cfg):
    """A copy of cfg safe to log or send: the token and Wi-Fi passwords replaced by "***"."""
    if not isinstance(cfg, dict):
        return cfg
    out = dict(cfg)
    if "token" in out:
        out["token"] = "***"
    if isinstance(out.get("wifi"), list):
        out["wifi"] = [
            dict(w, password="***") if isinstance(w, dict) and "password" in w else w for w in out["wifi"]
        ]
    return out


def apply_set(cfg, board, changes):
    """The new cfg after config.set's changes ({"intervals.telemetry": 30, "relays.pump.max_on_s": 600,
    "sensors.air.filters": [...], "log_level": "debug"}); cfg is left as it was, the caller saves the
    result. Raises AppError naming the key for anything outside the safe subset or invalid."""
    if not isinstance(changes, dict) or not changes:
        raise AppError(
            "bad_params", 'changes: must be a non-empty object such as {"intervals.telemetry": 30}'
        )
    new = json.loads(json.dumps(cfg))  # a deep copy
    for key in changes:
        v = changes[key]
        key = str(key)
        i, j = key.find("."), key.rfind(".")
        head, name, field = key[:i], key[i + 1 : j], key[j + 1 :]
        if key == "log_level":
            new[key] = v
        elif head == "intervals" and i == j and field in [t[0] for t in _INTERVALS]:
            new.setdefault("intervals", {})[field] = v
        elif i < j and field in _SETTABLE.get(head, ()):
            for d in new.get(head) or ():
                if d.get("name") == name:
                    d[field] = v
                    break
            else:
                raise AppError(
                    "unknown_" + head[:-1], "%s: no %s is named %s" % (key, head[:-1], _show(name))
                )
        else:
            raise AppError(
                "bad_params",
                "%s: cannot be changed at run time; config.set changes only log_level, intervals.NAME, "
                "relays.NAME.max_on_s, relays.NAME.on_link_loss, sensors.NAME.interval and "
                "sensors.NAME.filters (edit config.json for the rest)" % key,
            )
    new, errors, _ = check(new, board)
    if errors:
        raise AppError("bad_params", "; ".join(errors))
    return new
