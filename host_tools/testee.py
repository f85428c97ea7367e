"""`make testee`: run our client as an Autobahn fuzzingserver testee on either runtime.

python -m host_tools.testee --url ws://127.0.0.1:9001 --agent NAME --runtime cpython|micropython
"""

import argparse
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "host_tools", "autobahn_testee.py")


def command(url, agent, runtime, max_size, heap):
    """The command line that runs the testee on the chosen runtime, and its environment."""
    env = dict(os.environ)
    if runtime == "micropython":
        mp = shutil.which("micropython")
        if mp is None:
            raise SystemExit("testee: the micropython interpreter is not on PATH (run `make setup`)")
        env["MICROPYPATH"] = ".frozen:" + os.path.join(ROOT, "firmware")
        return [mp, "-X", "heapsize=%s" % heap, SCRIPT, url, agent, str(max_size)], env
    env["PYTHONPATH"] = os.path.join(ROOT, "firmware")
    return [sys.executable, SCRIPT, url, agent, str(max_size)], env


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="ws://127.0.0.1:9001", help="the fuzzingserver's ws:// URL")
    ap.add_argument("--agent", default="esp32-ws", help="agent name in the reports")
    ap.add_argument("--runtime", default="cpython", choices=("cpython", "micropython"))
    ap.add_argument("--max-message-size", type=int, default=16 * 1024 * 1024)
    ap.add_argument("--heap", default="64m", help="MicroPython heap size (-X heapsize)")
    a = ap.parse_args(argv)
    if not (a.url.startswith("ws://") or a.url.startswith("wss://")):
        ap.error("--url must be a ws:// or wss:// URL, got %r" % a.url)
    cmd, env = command(a.url, a.agent, a.runtime, a.max_message_size, a.heap)
    return subprocess.call(cmd, env=env)


if __name__ == "__main__":
    sys.exit(main())
