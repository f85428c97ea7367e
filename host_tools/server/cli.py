"""python -m host_tools.server: run the reference server, manage devices, send commands, tail readings.

  serve [--host H] [--port P] [--data DIR] [--db PATH] [--certfile F --keyfile F] [...]
  device add ID | device list [--json] | device remove ID | device rotate ID
  command ID METHOD [--params JSON] [--timeout S]   (through the running server's API)
  tail ID [--last N] [--count N] [--json]           (readings as they arrive)

Exit codes: 0 success (for `command`: the device reported done); 1 the operation failed (the
command failed or expired; the device exists already or does not exist); 2 usage, connection or
authentication errors. Results go to stdout, messages to stderr.
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import ssl
import sys
import time

DEFAULT_DATA = os.environ.get("ESP32WS_DATA", os.path.join("build", "server"))
DEFAULT_URL = os.environ.get("ESP32WS_SERVER", "http://127.0.0.1:8080")
FINAL = ("done", "failed", "expired")


def main(argv=None):
    a = _parser().parse_args(argv)
    try:
        return a.run(a)
    except KeyboardInterrupt:
        return 0


def _parser():
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--data", default=DEFAULT_DATA, help="data directory (default %(default)s; $ESP32WS_DATA)"
    )
    data.add_argument("--db", help="SQLite database (default DATA/server.db)")
    client = argparse.ArgumentParser(add_help=False)
    client.add_argument(
        "--server", default=DEFAULT_URL, help="the server's URL (default %(default)s; $ESP32WS_SERVER)"
    )
    client.add_argument(
        "--token", help="operator token (default $ESP32WS_OPERATOR_TOKEN, else DATA/operator.token)"
    )
    client.add_argument("--cafile", help="CA certificate to trust for an https:// server")
    client.add_argument(
        "--data", default=DEFAULT_DATA, help="where to find operator.token (default %(default)s)"
    )

    ap = argparse.ArgumentParser(prog="python -m host_tools.server", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="{serve,device,command,tail}")

    p = sub.add_parser("serve", parents=[data], help="run the server")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=8080, help="port (default %(default)s; 0: any free port)")
    p.add_argument("--certfile", help="TLS certificate chain (PEM): serve https:// and wss://")
    p.add_argument("--keyfile", help="TLS private key (PEM)")
    p.add_argument(
        "--operator-token", default=os.environ.get("ESP32WS_OPERATOR_TOKEN"), help="operator token for /api"
    )
    p.add_argument(
        "--lease",
        type=float,
        default=60,
        help="seconds; stale after 2 leases of silence (default %(default)s)",
    )
    p.add_argument(
        "--retention-days", type=float, default=30, help="prune older data; 0 keeps all (default %(default)s)"
    )
    p.add_argument("--max-message-size", type=int, default=64 * 1024, help="bytes (default %(default)s)")
    p.add_argument("--max-connections-per-address", type=int, default=1000, help="default %(default)s")
    p.add_argument(
        "--max-auth-failures", type=int, default=20, help="per address per minute (default %(default)s)"
    )
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(run=_serve)

    p = sub.add_parser("device", help="add, list, remove devices, rotate tokens (on the database)")
    dsub = p.add_subparsers(dest="action", required=True)
    for name, help_ in (
        ("add", "register a device; prints its token once"),
        ("remove", "forget a device and its data"),
        ("rotate", "new token; the old one stops working"),
    ):
        q = dsub.add_parser(name, parents=[data], help=help_)
        q.add_argument("id")
        q.set_defaults(run=_device)
    q = dsub.add_parser("list", parents=[data], help="devices with state and last seen")
    q.add_argument("--json", action="store_true", help="one JSON object per line")
    q.set_defaults(run=_device)

    p = sub.add_parser("command", parents=[client], help="send a command and wait for its result")
    p.add_argument("id", help="device id")
    p.add_argument("method", help="e.g. relay.set, relay.pulse, status (docs/protocol.md)")
    p.add_argument("--params", default="{}", help='JSON object, e.g. \'{"relay": "heater", "on": true}\'')
    p.add_argument(
        "--timeout", type=float, default=30, help="seconds until the command expires (default %(default)s)"
    )
    p.set_defaults(run=lambda a: asyncio.run(_command(a)))

    p = sub.add_parser("tail", parents=[client], help="print a device's readings as they arrive")
    p.add_argument("id", help="device id")
    p.add_argument(
        "--last", type=int, default=10, help="stored readings to print first (default %(default)s)"
    )
    p.add_argument("--count", type=int, help="exit 0 after this many new readings")
    p.add_argument("--json", action="store_true", help="one JSON object per reading")
    p.set_defaults(run=lambda a: asyncio.run(_tail(a)))
    return ap


def _fail(msg, code=2):
    print("error: " + msg, file=sys.stderr)
    return code


# ---- serve


def _serve(a):
    from .app import Server
    from .auth import operator_token
    from .store import open_store

    if bool(a.certfile) != bool(a.keyfile):
        return _fail("--certfile and --keyfile go together")
    ctx = None
    if a.certfile:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ctx.load_cert_chain(a.certfile, a.keyfile)
        except (OSError, ssl.SSLError) as e:
            return _fail("cannot load the TLS certificate/key: %s" % e)
    logging.basicConfig(
        level=a.log_level.upper(),
        format="%(asctime)s.%(msecs)03d %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    store = open_store(a.data, a.db)
    token, new = operator_token(a.data, a.operator_token)
    server = Server(
        store,
        token,
        lease_ms=int(a.lease * 1000),
        retention_days=a.retention_days,
        max_message_size=a.max_message_size,
        max_connections_per_address=a.max_connections_per_address,
        max_auth_failures=a.max_auth_failures,
    )

    async def run():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            port = await server.start(a.host, a.port, ctx)
        except OSError as e:
            return _fail("cannot listen on %s:%d: %s" % (a.host, a.port, e.strerror or e))
        if new:
            print(
                "server: operator token (shown once; kept in %s): %s"
                % (os.path.join(a.data, "operator.token"), token),
                flush=True,
            )
        scheme = "https" if ctx else "http"
        host = "[%s]" % a.host if ":" in a.host else a.host
        print(
            "server: listening on %s://%s:%d (boards: %s://%s:%d/device)"
            % (scheme, host, port, "wss" if ctx else "ws", host, port),
            flush=True,
        )
        await stop.wait()
        print("server: stopping", flush=True)
        await server.stop()
        return 0

    try:
        return asyncio.run(run())
    finally:
        store.close()


# ---- device


def _device(a):
    from .store import StoreError, now_ms, open_store

    store = open_store(a.data, a.db)
    try:
        if a.action == "list":
            rows = store.devices()
            if a.json:
                for r in rows:
                    print(json.dumps(r))
                return 0
            now = now_ms()
            print("%-24s %-8s %-14s %10s %8s  %s" % ("ID", "STATE", "LAST SEEN", "LAST SEQ", "DROPPED", "FW"))
            for r in rows:
                seen = "never" if r["last_seen"] is None else _ago(now - r["last_seen"])
                state = "online" if r["online"] else "offline"
                fw = r["info"].get("fw") or "-"
                print(
                    "%-24s %-8s %-14s %10d %8d  %s" % (r["id"], state, seen, r["last_seq"], r["dropped"], fw)
                )
            return 0
        if a.action == "add":
            print(store.add_device(a.id))
            print(
                "device %s added; its token is shown only this once (the server keeps a hash)" % a.id,
                file=sys.stderr,
            )
        elif a.action == "rotate":
            print(store.rotate_token(a.id))
            print("device %s has a new token; the old one no longer works" % a.id, file=sys.stderr)
        else:
            store.remove_device(a.id)
            print("device %s removed with its readings, commands and events" % a.id, file=sys.stderr)
        return 0
    except StoreError as e:
        return _fail(e.message, 2 if e.code == "bad_id" else 1)
    finally:
        store.close()


def _ago(ms):
    s = ms // 1000
    if s < 120:
        return "%d s ago" % s
    if s < 7200:
        return "%d min ago" % (s // 60)
    return "%d h ago" % (s // 3600)


# ---- the API's clients: command and tail


def _client(a):
    """(session, base URL) for the running server, or raise SystemExit(2) with a message."""
    import aiohttp

    token = a.token or os.environ.get("ESP32WS_OPERATOR_TOKEN")
    if not token:
        path = os.path.join(a.data, "operator.token")
        try:
            with open(path) as f:
                token = f.read().strip()
        except OSError:
            raise SystemExit(
                _fail(
                    "no operator token: give --token, set ESP32WS_OPERATOR_TOKEN, or run where %s is" % path
                )
            )
    ctx = None
    if a.cafile:
        ctx = ssl.create_default_context(cafile=a.cafile)
    connector = aiohttp.TCPConnector(ssl=ctx) if ctx else None
    headers = {"Authorization": "Bearer " + token}
    timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_read=None)
    return aiohttp.ClientSession(headers=headers, connector=connector, timeout=timeout), a.server.rstrip("/")


async def _call(session, method, url, **kw):
    """(status, JSON body) of one API call; connection problems raise SystemExit(2)."""
    import aiohttp

    try:
        async with session.request(method, url, **kw) as r:
            try:
                body = await r.json(content_type=None)
            except ValueError:
                body = None
            return r.status, body
    except (TimeoutError, aiohttp.ClientError, OSError) as e:
        raise SystemExit(_fail("cannot reach the server at %s: %s" % (url, e or type(e).__name__)))


def _api_error(status, body):
    msg = body["error"]["message"] if isinstance(body, dict) and "error" in body else "HTTP %d" % status
    return _fail("the server says: %s" % msg)


async def _command(a):
    try:
        params = json.loads(a.params)
    except ValueError as e:
        return _fail("--params is not JSON (%s): %s" % (e, a.params))
    session, base = _client(a)
    async with session:
        body = {"method": a.method, "params": params, "timeout": a.timeout}
        status, res = await _call(session, "POST", "%s/api/devices/%s/commands" % (base, a.id), json=body)
        if status != 201:
            return _api_error(status, res)
        cmd = res["command"]
        shown = None
        until = time.monotonic() + a.timeout + 60
        while True:
            if cmd["state"] != shown:
                shown = cmd["state"]
                print("%s: %s" % (cmd["id"], shown), file=sys.stderr)
            if shown in FINAL:
                break
            if time.monotonic() > until:
                return _fail("command %s is still %s long after its deadline" % (cmd["id"], shown))
            await asyncio.sleep(0.1)
            status, res = await _call(session, "GET", "%s/api/commands/%s" % (base, cmd["id"]))
            if status != 200:
                return _api_error(status, res)
            cmd = res["command"]
    if cmd["state"] == "done":
        print(json.dumps(cmd["result"]))
        return 0
    print(json.dumps(cmd["error"]))
    return 1


async def _tail(a):
    import aiohttp

    session, base = _client(a)
    async with session:
        url = "%s/api/live?device=%s" % (base, a.id)
        try:
            ws = await session.ws_connect(url, heartbeat=30)
        except aiohttp.WSServerHandshakeError as e:
            return _fail("the server refused the live connection: HTTP %d %s" % (e.status, e.message))
        except (aiohttp.ClientError, OSError) as e:
            return _fail("cannot reach the server at %s: %s" % (base, e))
        async with ws:
            first = await ws.receive_json()
            if not first.get("devices"):
                return _fail("no device %r on the server" % a.id, 2)
            last, seen = None, 0
            if a.last > 0:
                status, res = await _call(
                    session, "GET", "%s/api/devices/%s/readings?limit=%d" % (base, a.id, a.last)
                )
                if status != 200:
                    return _api_error(status, res)
                for r in res["readings"]:
                    _print_reading(a, r)
                    last = r["seq"]
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                m = json.loads(msg.data)
                if m.get("type") != "readings":
                    continue
                for r in m["readings"]:
                    if last is not None and r["seq"] <= last:
                        continue
                    _print_reading(a, r)
                    seen += 1
                    if a.count and seen >= a.count:
                        return 0
            return _fail("the server closed the live connection (%s)" % ws.close_code)


def _print_reading(a, r):
    if a.json:
        print(json.dumps(dict(r, device=a.id)), flush=True)
        return
    if r["clock"] == "utc":
        t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(r["ts"] // 1000)) + ".%03dZ" % (r["ts"] % 1000)
    else:
        t = "uptime+%d.%03ds" % (r["ts"] // 1000, r["ts"] % 1000)
    if "error" in r:
        what = "ERROR %s: %s" % (r["error"]["code"], r["error"]["message"])
    else:
        what = " ".join("%s=%s%s" % (q, v, u) for q, v, u in r["values"])
    print("%s %d %s %s %s" % (a.id, r["seq"], t, r["sensor"], what), flush=True)
