"""Small JSON files on the board's flash, written atomically (a .tmp file, then a rename)."""

import json
import os

_ENOENT = 2  # errno of a missing file on every port


def load_json(path, default):
    """(value, status) of a JSON file: status "ok", or "missing"/"corrupt" with default as value.

    "corrupt" covers a file that exists but cannot be used: unreadable, not JSON (truncated by a
    crash on a file system without atomic rename, or edited by hand), or of another type than
    default (a list where a dict belongs). default None accepts any type.
    """
    try:
        with open(path) as f:
            value = json.load(f)
    except OSError as e:
        return default, "missing" if e.errno == _ENOENT else "corrupt"
    except ValueError:  # bad JSON; CPython's UnicodeDecodeError is one too
        return default, "corrupt"
    if default is not None and type(value) is not type(default):
        return default, "corrupt"
    return value, "ok"


def save_json(path, obj):
    """Write obj (JSON data) to path so that a power loss leaves the old or the new file, whole.

    The new content goes to path + ".tmp", which is closed and then renamed over path (littlefs
    and POSIX replace atomically). On OSError (flash full) the .tmp file is removed, the old file
    is left as it was, and the error is raised.
    """
    data = json.dumps(obj)  # before touching the flash
    tmp = path + ".tmp"
    try:
        with open(tmp, "w") as f:
            f.write(data)
        os.rename(tmp, path)
    except OSError:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
