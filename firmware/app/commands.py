"""The server's command methods (docs/protocol.md): each takes the node, the params and the command id.

Imported at the first command, so a board that is never commanded does not pay for it in heap.
Every bad parameter raises AppError("bad_params", ...) naming the parameter. A method returns its
result value, or PENDING when a task of its own finishes it later. Methods are plain functions,
run by the reader without a task switch (a coroutine a call costs the board a heap frame and a
resumption); only the SLOW ones are coroutines, run in a task of their own.
"""

import asyncio

from app import log
from app.errors import AppError
from compat import ticks_ms


def _param(params, name, kind, what):
    v = params.get(name)
    if type(v) is not kind:
        raise AppError("bad_params", "%s must be %s, got %r" % (name, what, v))
    return v


def _relays(node):
    if node.relays is None:
        raise AppError("unknown_relay", "this board has no relays configured")
    return node.relays


PENDING = "pending"  # the result comes later, from a task of its own (node.finish); the reader says accepted


def _state(node, name, on, extra):
    s = node.relays.get(name)
    if on is not None and s["on"] != on:
        raise AppError("superseded", "%s: a later command on its interlock group won" % name)
    res = {"relay": name, "on": s["on"]}
    if extra:
        res.update(extra)
    return res


async def _later(node, cid, name, wait, on, extra):
    await asyncio.sleep_ms(wait + 1)
    node.relays.tick(ticks_ms())  # its changes go with the result (node.finish)
    try:
        text = node.finish(cid, _state(node, name, on, extra))
    except AppError as e:
        text = node.finish(cid, error=(e.code, e.message))
    await node.say(text)


def _settle(node, name, wait, on, cid, extra=None):
    # An interlock's dead time: the change is pending until then, and may be superseded. The
    # reader must not wait for it (a later command may supersede this one): a task answers.
    if wait:
        asyncio.create_task(_later(node, cid, name, wait, on, extra))
        return PENDING
    res = {"relay": name, "on": on}  # in effect now: nothing to look up
    if extra:
        res.update(extra)
    return res


def relay_set(node, p, cid):
    r = _relays(node)
    name = _param(p, "relay", str, "a relay name")
    on = _param(p, "on", bool, "true or false")
    wait = r.set(name, on, ticks_ms(), "command")
    return _settle(node, name, wait, on, cid)


def relay_toggle(node, p, cid):
    r = _relays(node)
    name = _param(p, "relay", str, "a relay name")
    on = not r.get(name)["on"]
    wait = r.set(name, on, ticks_ms(), "command")
    return _settle(node, name, wait, on, cid)


def relay_pulse(node, p, cid):
    r = _relays(node)
    name = _param(p, "relay", str, "a relay name")
    ms = p.get("ms")
    if type(ms) is not int or not 0 < ms <= 3600000:
        raise AppError("bad_params", "ms must be an integer from 1 to 3600000, got %r" % (ms,))
    wait = r.pulse(name, ms, ticks_ms(), "command")
    return _settle(node, name, wait, True, cid, {"ms": ms})


def relay_get(node, p, cid):
    r = _relays(node)
    if "relay" in p:
        s = r.get(_param(p, "relay", str, "a relay name"))
        return {"relay": s["name"], "on": s["on"], "pending": s["pending"], "until": s["until"]}
    return {"relays": r.all()}


async def sensors_read(node, p, cid):
    want = p.get("sensor")
    if want is not None and type(want) is not str:
        raise AppError("bad_params", "sensor must be a sensor name, got %r" % (want,))
    found = [s for s in node.sensors if want is None or s[0].name == want]
    if want is not None and not found:
        names = ", ".join(s[0].name for s in node.sensors) or "none"
        raise AppError("unknown_sensor", "no sensor %r; sensors: %s" % (want, names))
    out = []
    for s in found:
        d = s[0]
        values, err = await node.sample(d)
        if err is None:
            out.append(
                {"sensor": d.name, "values": [[q, values.get(q), u] for q, u in d.quantities if q in values]}
            )
        else:
            out.append({"sensor": d.name, "error": {"code": err.code, "message": err.message}})
    return {"readings": out}


def status(node, p, cid):
    return node.status()


def config_get(node, p, cid):
    from app import config

    cfg, _, _, _, digest = config.load()  # config.json as the board has it: what it runs
    return {"config": config.redacted(cfg), "hash": digest}


def config_set(node, p, cid):
    changes = p.get("changes")
    if type(changes) is not dict or not changes:
        raise AppError("bad_params", 'changes must be an object such as {"intervals.telemetry": 30}')
    from app import config

    cfg, board, _, _, _ = config.load()
    cfg = config.apply_set(cfg, board, changes)
    try:
        node.save_json("config.json", cfg)
    except OSError as e:
        raise AppError("io_error", "cannot write config.json: %s" % e)
    node.keep_config(cfg)
    node.hash = config.file_hash("config.json")
    lvl = cfg.get("log_level")
    if lvl in log.LEVELS:
        log.set_level(lvl)
    by_name = {}
    for spec in cfg.get("sensors", []):
        by_name[spec.get("name")] = spec
    for s in node.sensors:
        spec = by_name.get(s[0].name)
        if spec and "interval" in spec:
            s[0].interval_ms = int(spec["interval"] * 1000)
    if node.relays is not None:
        node.relays.configure(cfg.get("relays", []))
    log.info("config", "changed %s; config %s" % (", ".join(sorted(changes)), node.hash))
    return {"hash": node.hash}


def log_level(node, p, cid):
    level = p.get("level")
    log.set_level(level)
    return {"level": level}


def reboot(node, p, cid):
    log.warn("app", "reboot requested by the server")
    asyncio.create_task(_reboot())
    return {"rebooting": True}


async def _reboot():
    await asyncio.sleep_ms(300)  # the result leaves first
    import machine

    machine.reset()


SLOW = ("sensors.read",)  # coroutines, run in a task of their own: a DS18B20 converts for 750 ms
METHODS = {
    "relay.set": relay_set,
    "relay.toggle": relay_toggle,
    "relay.pulse": relay_pulse,
    "relay.get": relay_get,
    "sensors.read": sensors_read,
    "status": status,
    "config.get": config_get,
    "config.set": config_set,
    "log.level": log_level,
    "reboot": reboot,
}
