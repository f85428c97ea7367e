"""make provision: registers the device in the reference server's store, writes the config to the
virtual serial board, validated first; secrets stay hidden unless asked for."""

import json
import os
import subprocess
import sys
import time

import pytest

from host_tools import boardio
from test_serial_board import MPREMOTE, SerialBoard

ROOT = boardio.ROOT
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
pytestmark = pytest.mark.filterwarnings("ignore:set(Daemon|Name)\\(\\) is deprecated:DeprecationWarning")


def tool(module, *args, timeout=120):
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    cmd = [sys.executable, "-m", "host_tools." + module] + list(args)
    return subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


@pytest.fixture
def board(tmp_path):
    if not os.path.exists(MPREMOTE):
        pytest.skip("mpremote is not installed: make setup")
    b = SerialBoard(tmp_path, "cpython")
    yield b
    b.stop()


def server_cli(data, *args):
    cmd = [sys.executable, "-m", "host_tools.server"] + list(args) + ["--data", str(data)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_provision_registers_the_device_and_writes_its_config(board, tmp_path):
    data = tmp_path / "server"
    args = ["--port", board.path, "--device-id", "gh-1", "--server", "ws://127.0.0.1:8080/device"]
    args += ["--wifi", "home:password123", "--wifi", "barn:", "--data", str(data)]
    r = tool("provision", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    cfg = json.loads((board.flash / "config.json").read_text())
    assert cfg["device_id"] == "gh-1" and cfg["server"] == "ws://127.0.0.1:8080/device"
    assert cfg["wifi"] == [{"ssid": "home", "password": "password123"}, {"ssid": "barn", "password": ""}]
    assert len(cfg["token"]) == 32
    assert cfg["token"] not in r.stdout + r.stderr and "password123" not in r.stdout + r.stderr
    assert '"token": "***"' in r.stdout
    listed = server_cli(data, "device", "list", "--json")
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == ["gh-1"]
    # Again: the device exists; --rotate gives it a new token, shown when asked for.
    r = tool("provision", *args)
    assert r.returncode == 2 and "--rotate" in r.stderr
    r = tool("provision", *args, "--rotate", "--show-secrets")
    assert r.returncode == 0, r.stderr
    new = json.loads((board.flash / "config.json").read_text())["token"]
    assert new != cfg["token"] and new in r.stdout


def test_provision_with_a_given_token_keeps_the_rest_of_the_config(board, tmp_path):
    (board.flash / "config.json").write_text(
        json.dumps(
            {
                "device_id": "a",
                "token": "old",
                "server": "ws://h/device",
                "wifi": [{"ssid": "x", "password": ""}],
                "outbox": 50,
            }
        )
    )
    r = tool("provision", "--port", board.path, "--token", "given-token-xyz")
    assert r.returncode == 0, r.stdout + r.stderr
    cfg = json.loads((board.flash / "config.json").read_text())
    assert cfg["token"] == "given-token-xyz" and cfg["outbox"] == 50 and cfg["device_id"] == "a"


def test_provision_refuses_an_invalid_config_and_writes_nothing(board, tmp_path):
    before = (board.flash / "config.json").read_bytes() if (board.flash / "config.json").exists() else None
    r = tool(
        "provision",
        "--port",
        board.path,
        "--device-id",
        "d",
        "--server",
        "http://nope",
        "--wifi",
        "w:short",
        "--token",
        "t",
    )
    assert r.returncode == 2
    assert "server: " in r.stderr and "wifi[0].password" in r.stderr
    after = (board.flash / "config.json").read_bytes() if (board.flash / "config.json").exists() else None
    assert after == before


def test_provision_without_a_token_says_how_to_get_one(board):
    r = tool(
        "provision", "--port", board.path, "--device-id", "d", "--server", "ws://h/device", "--wifi", "w:"
    )
    assert r.returncode == 2 and "no token: pass --token, or --data DIR" in r.stderr


def test_provision_on_a_missing_port_says_so():
    r = tool("provision", "--port", "/dev/ttyNOPE1", "--token", "t")
    assert r.returncode == 2 and "port /dev/ttyNOPE1 does not exist" in r.stderr


def test_provision_in_a_terminal_asks_for_what_is_missing(board, tmp_path):
    import select

    master, slave = os.openpty()
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    cmd = [sys.executable, "-m", "host_tools.provision", "--port", board.path, "--token", "typed-run-token"]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
    )
    os.close(slave)
    seen = b""
    try:
        for prompt, answer in (
            (b"device id: ", b"asked-1"),
            (b"server URL", b"ws://10.0.0.2/device"),
            (b"Wi-Fi SSID: ", b"attic"),
            (b"Wi-Fi password: ", b"hunter2-hunter2"),
        ):
            deadline = time.monotonic() + 30
            while prompt not in seen and time.monotonic() < deadline:
                if select.select([master], [], [], 0.1)[0]:
                    seen += os.read(master, 4096)
            assert prompt in seen, seen
            seen = b""
            os.write(master, answer + b"\n")
        rest = b""
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    rest += os.read(master, 4096)
                except OSError:  # the terminal closed with the process
                    break
        while select.select([master], [], [], 0.2)[0]:  # what it printed just before it ended
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            rest += data
        assert proc.wait(60) == 0
        assert b"hunter2" not in rest and b'"password": "***"' in rest  # typed without echo, shown hidden
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(master)
    cfg = json.loads((board.flash / "config.json").read_text())
    assert cfg["device_id"] == "asked-1" and cfg["server"] == "ws://10.0.0.2/device"
    assert cfg["wifi"] == [{"ssid": "attic", "password": "hunter2-hunter2"}]
