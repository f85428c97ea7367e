"""Runs first at every boot, before main.py: relays to their off level first, then the boot guard.

Nothing here may stop the board: a broken config.json or board.json prints one line and boot goes
on. Only json and machine are imported before the relays are safe (the checks live in app.config).
"""


def _relays_off():
    import json

    from machine import Pin

    try:
        with open("config.json") as f:
            relays = json.load(f).get("relays") or []
    except OSError:
        return  # not configured yet: there are no relays to drive
    except Exception as e:
        print("boot.py: config.json unreadable (%s): relays not driven; fix it (docs/config.md)" % e)
        return
    try:
        with open("board.json") as f:
            b = json.load(f)
        # Never drive a pin that is missing, wired to the flash, reserved (console) or input-only.
        bad = b.get("flash_pins", []) + b.get("input_only", []) + [int(p) for p in b.get("reserved", {})]
        ok = [p for p in b["gpios"] if p not in bad]
    except Exception as e:
        print("boot.py: board.json unreadable (%s): relays not driven; copy it from boards/" % e)
        return
    for i, r in enumerate(relays):
        try:
            pin, low = r.get("pin"), r.get("active_low", False)
            if not isinstance(pin, int) or isinstance(pin, bool) or pin not in ok:
                raise ValueError("GPIO %r is not an output pin of this board" % (pin,))
            if not isinstance(low, bool):
                raise ValueError("active_low must be true or false, so the off level is unknown")
            Pin(pin, Pin.OUT, value=1 if low else 0)  # value first: the pin never glitches on
        except Exception as e:
            print("boot.py: relays[%d] not driven: %s" % (i, e))


try:
    _relays_off()
except Exception as e:  # never stop the board
    print("boot.py: relays not driven: %r" % e)
del _relays_off

BOOT_COUNT, SAFE_MODE = 0, False
try:
    import machine

    from app import bootguard

    BOOT_COUNT, SAFE_MODE = bootguard.boot(soft=machine.reset_cause() == machine.SOFT_RESET)
    if SAFE_MODE:
        print(
            "boot.py: safe mode after %d quick reboots: relays stay off and only the network and the"
            " console should start; fix the cause, then run `from app import bootguard;"
            " bootguard.good()` and reset" % BOOT_COUNT
        )
except Exception as e:
    print("boot.py: boot guard failed: %r" % e)
