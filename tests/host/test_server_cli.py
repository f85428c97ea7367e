"""The command line, as a script uses it: `python -m host_tools.server` in a subprocess, its output
and exit codes (0 success, 1 the operation failed, 2 usage or connection errors)."""

import asyncio
import json
import os
import re
import signal
import ssl
import subprocess
import sys

import pytest
import trustme
from websockets.asyncio.client import connect

from test_server_kit import FakeBoard, run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {k: v for k, v in os.environ.items() if not k.startswith("ESP32WS_")}


def cli(*args, timeout=30):
    p = subprocess.run(
        [sys.executable, "-m", "host_tools.server", *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return p.returncode, p.stdout, p.stderr


async def acli(*args, timeout=30):
    p = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "host_tools.server", *args, cwd=ROOT, env=ENV,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(p.communicate(), timeout)
    return p.returncode, out.decode(), err.decode()


class Served:
    """`python -m host_tools.server serve --port 0` in a subprocess; stopped with SIGTERM."""

    def __init__(self, data, *extra):
        self.args = ["serve", "--port", "0", "--data", str(data), "--log-level", "warning", *extra]

    async def __aenter__(self):
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "host_tools.server", *self.args, cwd=ROOT, env=ENV,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.lines = []
        while True:
            line = (await asyncio.wait_for(self.proc.stdout.readline(), 20)).decode()
            assert line, "the server ended: %s" % (await self.proc.stderr.read()).decode()
            self.lines.append(line)
            m = re.match(r"server: listening on (https?)://127\.0\.0\.1:(\d+) \(boards: (wss?://\S+)\)", line)
            if m:
                break
        self.url = "%s://127.0.0.1:%s" % (m.group(1), m.group(2))
        self.device_url = m.group(3)
        return self

    async def stop(self):
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.proc.wait(), 20)
        return self.proc.returncode

    async def __aexit__(self, *exc):
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


def test_device_add_list_rotate_remove_and_their_exit_codes(tmp_path):
    data = str(tmp_path / "data")
    code, out, err = cli("device", "add", "greenhouse-1", "--data", data)
    assert code == 0 and re.fullmatch(r"[A-Za-z0-9_-]{32}\n", out) and "shown only this once" in err
    token = out.strip()
    code, out, err = cli("device", "add", "greenhouse-1", "--data", data)
    assert code == 1 and out == "" and "exists" in err
    code, out, err = cli("device", "add", "bad id!", "--data", data)
    assert code == 2 and "letters, digits" in err
    code, out, err = cli("device", "list", "--data", data)
    assert code == 0 and "greenhouse-1" in out and "offline" in out and "never" in out
    code, out, _ = cli("device", "list", "--json", "--data", data)
    row = json.loads(out)
    assert row["id"] == "greenhouse-1" and row["online"] is False and token not in out
    code, out, err = cli("device", "rotate", "greenhouse-1", "--data", data)
    assert code == 0 and out.strip() != token and "old one no longer works" in err
    code, out, err = cli("device", "rotate", "nobody", "--data", data)
    assert code == 1 and "no device 'nobody'" in err
    code, out, err = cli("device", "remove", "greenhouse-1", "--data", data)
    assert code == 0
    code, out, err = cli("device", "remove", "greenhouse-1", "--data", data)
    assert code == 1 and "no device" in err
    code, out, err = cli("device", "frobnicate", "x", "--data", data)
    assert code == 2 and "invalid choice" in err


def test_serve_then_command_and_tail_against_a_board(tmp_path):
    data = tmp_path / "data"
    token = cli("device", "add", "d1", "--data", str(data))[1].strip()

    async def main():
        async with Served(data) as srv:
            assert srv.lines[0].startswith("server: operator token (shown once; kept in ")
            op = srv.lines[0].rsplit(" ", 1)[1].strip()
            assert (data / "operator.token").read_text().strip() == op
            board = FakeBoard("d1", token)
            await board.connect(srv.device_url)

            async def answer(n, **how):
                for _ in range(n):
                    await board.answer(await board.recv("command", timeout=20), **how)

            client = ("--server", srv.url, "--data", str(data))
            params = json.dumps({"relay": "heater", "on": True})
            (code, out, err), _ = await asyncio.gather(
                acli("command", "d1", "relay.set", "--params", params, *client),
                answer(1, result={"relay": "heater", "on": True}),
            )
            assert code == 0 and json.loads(out) == {"relay": "heater", "on": True}, err
            assert re.search(r"c-[0-9a-f]{16}: sent\n.*: done", err, re.S)
            (code, out, err), _ = await asyncio.gather(
                acli("command", "d1", "status", *client), answer(1, ok=False)
            )
            assert code == 1 and json.loads(out)["code"] == "unknown_relay"
            code, out, err = await acli("command", "d1", "relay.flip", *client)
            assert code == 2 and 'unknown method "relay.flip"' in err
            code, out, err = await acli("command", "d1", "status", "--params", "{oops", *client)
            assert code == 2 and "--params is not JSON" in err
            code, out, err = await acli("command", "nobody", "status", *client)
            assert code == 2 and "no device 'nobody'" in err
            code, out, err = await acli("command", "d1", "status", "--token", "wrong", "--server", srv.url)
            assert code == 2 and "operator token needed" in err

            for v in (1.0, 2.0):
                board.reading(v)
            await board.send_outbox()
            tail = asyncio.ensure_future(acli("tail", "d1", "--last", "1", "--count", "2", *client))
            await asyncio.sleep(1.5)  # the tail is listening
            for v in (3.0, 4.0):
                board.reading(v)
                await board.send_outbox()
            code, out, err = await tail
            lines = out.splitlines()
            assert code == 0 and len(lines) == 3, (out, err)
            assert re.fullmatch(
                r"d1 2 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z air temperature=2\.0C", lines[0]
            )
            assert [ln.split()[1] for ln in lines] == ["2", "3", "4"]
            code, out, err = await acli("tail", "nobody", "--count", "1", *client)
            assert code == 2 and "no device 'nobody'" in err

            assert await srv.stop() == 0
            assert (await board.closed())[0] == 1000

        code, out, err = await acli("command", "d1", "status", "--server", srv.url, "--data", str(data))
        assert code == 2 and "cannot reach the server" in err

    run(main(), timeout=120)


def test_a_command_for_an_offline_device_expires_with_exit_code_1(tmp_path):
    data = tmp_path / "data"
    cli("device", "add", "d1", "--data", str(data))

    async def main():
        async with Served(data, "--operator-token", "op-tok") as srv:
            assert len(srv.lines) == 1  # the token was given, not made: nothing to show
            client = ("--server", srv.url, "--token", "op-tok")
            code, out, err = await acli("command", "d1", "status", "--timeout", "0.3", *client)
            assert code == 1 and json.loads(out)["code"] == "expired" and ": expired" in err
            await srv.stop()

    run(main(), timeout=60)


def test_serve_refuses_bad_options_with_exit_code_2(tmp_path):
    code, out, err = cli("serve", "--certfile", "x.pem", "--data", str(tmp_path))
    assert code == 2 and "--certfile and --keyfile go together" in err
    code, out, err = cli("serve", "--certfile", "x.pem", "--keyfile", "y.pem", "--data", str(tmp_path))
    assert code == 2 and "cannot load the TLS certificate" in err
    code, out, err = cli("serve", "--port", "notanumber")
    assert code == 2 and "invalid int value" in err


@pytest.mark.timeout(90)
def test_wss_with_a_certificate_and_key(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile, cafile = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(cafile))
    data = tmp_path / "data"
    token = cli("device", "add", "d1", "--data", str(data))[1].strip()

    async def main():
        async with Served(data, "--certfile", str(certfile), "--keyfile", str(keyfile)) as srv:
            assert srv.url.startswith("https://") and srv.device_url.startswith("wss://")
            ctx = ssl.create_default_context(cafile=str(cafile))
            board = FakeBoard("d1", token)
            headers = {"Authorization": "Bearer " + token, "X-Device-Id": "d1"}
            board.ws = await connect(srv.device_url, additional_headers=headers, ssl=ctx, proxy=None)
            await board.send({"type": "hello", "v": 1, "device": "d1", "seq": 1})
            assert (await board.recv("welcome"))["acked"] == 0
            client = ("--server", srv.url, "--data", str(data), "--cafile", str(cafile))
            (code, out, err), _ = await asyncio.gather(
                acli("command", "d1", "status", *client), _answer_one(board)
            )
            assert code == 0, err
            await srv.stop()

    run(main(), timeout=80)


async def _answer_one(board):
    await board.answer(await board.recv("command", timeout=20), result={"heap_free": 1})
