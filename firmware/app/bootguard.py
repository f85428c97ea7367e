"""Rapid-reboot guard: boot.py counts boots in a small file; the app resets it once it runs stably.

Four boots or more without good() in between means the application keeps crashing the board:
boot() then reports safe mode, in which main.py keeps relays off and starts no application.
"""

import os

SAFE_AFTER = 4
count = 0  # what boot() found at this boot; main.py reads boot_state()
safe = False


def boot(path="bootcount", soft=False):
    """Count this boot (a soft reset does not count); returns (count, safe_mode)."""
    global count, safe
    try:
        with open(path) as f:
            count = int(f.read())
    except (OSError, ValueError):  # no file yet (or an unreadable one): no recent boots
        count = 0
    if not soft:
        count += 1
        with open(path + ".tmp", "w") as f:
            f.write(str(count))
        os.rename(path + ".tmp", path)  # atomic: a power loss leaves the old count or the new one
    safe = count >= SAFE_AFTER
    return count, safe


def boot_state():
    """(count, safe_mode) as boot.py's boot() found them ((0, False) if it did not run)."""
    return count, safe


def good(path="bootcount"):
    """The application ran stably: the next boot counts from zero."""
    try:
        os.remove(path)
    except OSError:
        pass
