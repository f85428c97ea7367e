"""Console commands for the REPL: `from app.console import *`, then status(), relays(), relay('pump', 'on')...

They work on the node main.py started (after Ctrl-C the REPL shares its state) and print plain
lines a person reads on a serial console:
  status()                      heap, uptime, reset cause, Wi-Fi, link, outbox, dropped, loop lag,
                                and the last warning and error lines
  relays()                      every relay's state
  relay('pump', 'on'|'off'|'toggle'|'pulse', ms=1000)
  readings()                    the last value (or error) of every sensor
  config()                      config.json with secrets hidden
  net()                         Wi-Fi and link state
  level('debug'|'info'|'warning'|'error')
  reboot()
"""

from app import log, node
from app.errors import AppError
from compat import ticks_ms


def _node():
    n = node.NODE
    if n is None:
        raise AppError("busy", "the application is not running: reset the board (main.py starts it)")
    return n


def _show(d, indent=""):
    for k in sorted(d):
        v = d[k]
        if type(v) is dict:
            print("%s%s:" % (indent, k))
            _show(v, indent + "  ")
        else:
            print("%s%-16s %s" % (indent, k, v))


def status():
    _show(_node().status())
    for line in log.recent:
        print(line)


def relays():
    n = _node()
    if n.relays is None:
        print("no relays (safe mode or none configured)")
        return
    for r in n.relays.all():
        extra = ""
        if r.get("pending") is not None:
            extra += " pending %s" % ("on" if r["pending"] else "off")
        if r.get("until") is not None:
            extra += " for %d ms" % r["until"]
        print("%-12s %s%s" % (r["name"], "ON " if r["on"] else "off", extra))


def relay(name, action="toggle", ms=1000):
    n = _node()
    if n.relays is None:
        raise AppError("unknown_relay", "no relays (safe mode or none configured)")
    r = n.relays
    now = ticks_ms()
    if action == "pulse":
        r.pulse(name, ms, now, "console")
    elif action in ("on", "off"):
        r.set(name, action == "on", now, "console")
    elif action == "toggle":
        r.set(name, not r.get(name)["on"], now, "console")
    else:
        raise AppError("bad_params", "action %r: use on, off, toggle or pulse" % (action,))
    r.tick(ticks_ms())
    n._relay_events(n.now())
    relays()


def readings():
    n = _node()
    for s in n.sensors:
        name = s[0].name
        print("%-12s %s" % (name, n.last.get(name, "not read yet")))


def config():
    from app import config as c

    _show(c.redacted(c.load()[0]))  # config.json as the board has it: what it runs


def net():
    s = _node().status()
    _show({"wifi": s["wifi"], "link": s["link"], "reconnects": s["reconnects"], "outbox": s["outbox"]})


def level(name):
    log.set_level(name)
    print("log level", name)


def reboot():
    import machine

    machine.reset()
