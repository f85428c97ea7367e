"""Who may come in: the operator token and the limits per address (failed authentications, open
WebSocket connections)."""

import hashlib
import hmac
import math
import os
import secrets
import time


def operator_token(data_dir, given=None):
    """(token, new): the token given, else the one saved in the data directory, else a new one
    saved there (mode 0600). `new` is True only when it was just made: the caller shows it once."""
    if given:
        return given, False
    path = os.path.join(data_dir, "operator.token")
    if os.path.exists(path):
        with open(path) as f:
            token = f.read().strip()
        if token:
            return token, False
    os.makedirs(data_dir, exist_ok=True)
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, True


def session_value(key, token):
    """The login cookie's value: derived from the operator token, so changing the token logs everyone out."""
    return hmac.new(key, b"session:" + token.encode(), hashlib.sha256).hexdigest()


def bearer(request):
    """The token of an `Authorization: Bearer <token>` header, or None."""
    h = request.headers.get("Authorization", "")
    if h[:7].lower() == "bearer " and h[7:].strip():
        return h[7:].strip()
    return None


def same(a, b):
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


class Limits:
    """Failed authentications per address within a sliding window, and open WebSocket connections."""

    def __init__(self, max_failures, window_s, max_connections, clock=time.monotonic):
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_connections = max_connections
        self.clock = clock
        self.failures = {}  # address -> [times]
        self.open = {}  # address -> count

    def retry_after(self, addr):
        """Seconds this address must wait before it may try again (0: it may)."""
        times = self.failures.get(addr)
        if not times:
            return 0
        now = self.clock()
        while times and times[0] <= now - self.window_s:
            times.pop(0)
        if not times:
            del self.failures[addr]
            return 0
        if len(times) < self.max_failures:
            return 0
        return max(1, math.ceil(times[0] + self.window_s - now))

    def failed(self, addr):
        times = self.failures.setdefault(addr, [])
        times.append(self.clock())
        del times[: -self.max_failures]  # only the newest ones matter

    def purge(self):
        """Forget failures that left the window (called now and then)."""
        for addr in list(self.failures):
            self.retry_after(addr)

    def connect(self, addr):
        """Count one more connection from addr; False (and nothing counted) when at the limit."""
        n = self.open.get(addr, 0)
        if n >= self.max_connections:
            return False
        self.open[addr] = n + 1
        return True

    def release(self, addr):
        n = self.open.get(addr, 0) - 1
        if n > 0:
            self.open[addr] = n
        else:
            self.open.pop(addr, None)
