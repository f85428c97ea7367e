"""Structured console log lines: `[uptime s] LEVEL module: message`, with a level set at run time.

Uptime, not wall time: it is always known and it is what a person reading a serial console after a
reset needs. The last lines are kept (`recent`) for the status command and the REPL.
"""

from compat import ticks_diff, ticks_ms

LEVELS = ("debug", "info", "warning", "error")
_TAG = ("DEBUG", "INFO", "WARN", "ERROR")
level = 1
recent = []  # the last warning and error lines, for the console's status()
_KEEP = 4  # each about 100 B for as long as it is kept
count = 0  # warning and error lines since boot
_start = ticks_ms()
clock = None  # the application's non-wrapping uptime in ms, once it runs


def set_level(name):
    global level
    if name not in LEVELS:
        from app.errors import AppError

        raise AppError("bad_params", "log level %r: use one of %s" % (name, ", ".join(LEVELS)))
    level = LEVELS.index(name)


def log(lvl, module, msg):
    if lvl < level:
        return
    ms = clock() if clock else ticks_diff(ticks_ms(), _start)
    line = "[%6d.%03d] %s %s: %s" % (ms // 1000, ms % 1000, _TAG[lvl], module, msg)
    print(line)
    if lvl >= 2:
        global count
        count += 1
        recent.append(line)
        if len(recent) > _KEEP:
            recent.pop(0)


def debug(module, msg):
    log(0, module, msg)


def info(module, msg):
    log(1, module, msg)


def warn(module, msg):
    log(2, module, msg)


def error(module, msg):
    log(3, module, msg)
