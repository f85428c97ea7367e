"""The dashboard in a real browser: headless Debian chromium driven by Playwright, against the real
server (`python -m host_tools.server serve`) and one simulated board running the real firmware.

A person logs in with the operator token, sees the board online and its readings arrive on a live
chart, switches a relay and pulses it, sees each command go queued -> sent -> accepted -> done with
the board's result and the new relay state, and sees a failing command's error. The page also fits
a phone's screen: nothing sticks out sideways.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request

import pytest

from host_tools import vendor
from host_tools.server.store import open_store
from simdevice import SimDevice, config, world

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPERATOR = "dashboard-operator-token"
DEVICE = "dash-1"
HEATER = {"name": "heater", "pin": 26, "active_low": True, "on_link_loss": "hold"}
FAN = {"name": "fan", "pin": 33, "on_link_loss": "hold"}
AIR = {"name": "air", "kind": "dht22", "pin": 4, "interval": 0.5}
WORLD = world(
    sensors=[{"kind": "dht22", "name": "air", "pin": 4}],
    loads=[
        {"kind": "heater", "name": "heater", "pin": 26, "active_low": True},
        {"kind": "fan", "name": "fan", "pin": 33},
    ],
)

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: run `make setup`")


def find_chromium():
    """Debian's chromium; installed with apt-get when missing and we may (root); else None."""
    for path in ("/usr/bin/chromium", shutil.which("chromium") or ""):
        if path and os.access(path, os.X_OK):
            return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        if subprocess.run(cmd, env=env, capture_output=True, timeout=900).returncode != 0:
            return None
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


@pytest.fixture(scope="module")
def browser():
    path = find_chromium()
    if path is None:
        pytest.skip(
            "chromium not found and it cannot be installed here: `apt-get install chromium` "
            "(Debian's package; .ci/run installs it) and run the test again"
        )
    if not vendor.installed():  # `make setup` vendors the chart library; a bare pytest run too
        vendor.unpack(vendor.fetch())
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path)
        yield b
        b.close()


class ServerProcess:
    """`python -m host_tools.server serve` on a free loopback port, with its own data directory."""

    def __init__(self, data):
        cmd = [sys.executable, "-m", "host_tools.server", "serve", "--port", "0", "--data", str(data)]
        cmd += ["--operator-token", OPERATOR]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (http://127\.0\.0\.1:(\d+))", line)
        assert m, "the server did not start: %r" % line
        self.url, self.port = m.group(1), int(m.group(2))

    def api(self, method, path, body=None):
        req = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": "Bearer " + OPERATOR, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, browser):
    tmp = tmp_path_factory.mktemp("dashboard")
    store = open_store(str(tmp / "data"))
    token = store.add_device(DEVICE)
    store.close()
    server = ServerProcess(tmp / "data")
    cfg = config(DEVICE, token, "ws://127.0.0.1:%d/device" % server.port, relays=[HEATER, FAN], sensors=[AIR])
    board = SimDevice(tmp, "cpython", cfg, WORLD).start()
    try:
        board.wait_for(r"INFO link: online", timeout=60)
        yield server, board
    finally:
        board.stop()
        server.stop()
        print("---- board console (last lines)\n" + "\n".join(board.lines[-40:]))


def open_page(browser, server, viewport):
    page = browser.new_page(viewport=viewport)
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.set_default_timeout(30_000)
    page.goto(server.url + "/")
    return page


def log_in(page):
    page.get_by_label("Operator token").fill(OPERATOR)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("#app:not([hidden])")


def seq_of(page, chart):
    return int(page.get_attribute('figure[data-chart="%s"]' % chart, "data-seq") or 0)


def relay(page, name):
    return page.locator('.relay[data-relay="%s"]' % name)


def test_log_in_watch_readings_switch_and_pulse_a_relay(browser, stack):
    server, board = stack
    page = open_page(browser, server, {"width": 1280, "height": 900})

    # Without a session the page asks for the token; a wrong one is refused with a clear message.
    page.wait_for_selector("#login:not([hidden])")
    page.get_by_label("Operator token").fill("not-the-token")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("#login-error:has-text('Wrong operator token')")
    assert page.is_hidden("#app")
    log_in(page)

    # The device list shows the board online, seen just now.
    row = page.locator('#device-list li[data-device="%s"]' % DEVICE)
    row.locator(".state", has_text="online").wait_for()
    assert re.match(r"\d+ s ago", row.locator(".seen").inner_text())
    page.locator("#live[data-state=on]").wait_for()

    # A live chart per quantity; new readings arrive without reloading the page.
    for chart in ("air/temperature", "air/humidity"):
        page.wait_for_selector('figure[data-chart="%s"][data-seq] canvas' % chart)
    first = seq_of(page, "air/temperature")
    page.wait_for_function(
        "s => Number(document.querySelector('figure[data-chart=\"air/temperature\"]').dataset.seq) > s",
        arg=first,
    )
    value = page.inner_text('figure[data-chart="air/temperature"] .value')
    assert re.fullmatch(r"-?\d+(\.\d+)?", value) and 0 < float(value) < 60
    assert int(page.get_attribute('figure[data-chart="air/temperature"]', "data-points")) >= 2

    # Switch the heater on: the command's progress, the board's result, the new state.
    heater = relay(page, "heater")
    switch = page.get_by_role("switch", name="heater")
    assert not switch.is_checked() and heater.locator(".on-off").inner_text() == "off"
    switch.click()
    heater.locator(".progress[data-state=done]").wait_for()
    assert heater.locator(".outcome").inner_text() == "relay.set done: heater on"
    reached = heater.locator(".steps li.reached").all_inner_texts()
    assert reached == ["queued", "sent", "accepted", "done"]
    page.wait_for_selector('.relay[data-relay="heater"][data-on="true"]')
    assert switch.is_checked() and heater.locator(".on-off").inner_text() == "on"
    board.wait_for(r"INFO relays: heater on \(command\)")  # the board itself switched it
    assert server.api("GET", "/api/devices/" + DEVICE)["device"]["relays"][0] == {
        "name": "heater",
        "on": True,
    }
    page.locator("#events li[data-kind=relay]", has_text="heater on (command)").wait_for()
    page.locator("#commands li[data-state=done]", has_text="relay.set").first.wait_for()

    # And off again.
    switch.click()
    page.wait_for_selector('.relay[data-relay="heater"][data-on="false"]')
    assert heater.locator(".outcome").inner_text() == "relay.set done: heater off"
    assert not switch.is_checked()

    # A pulse: the board's result says for how long, then the relay's end-of-pulse event.
    fan = relay(page, "fan")
    fan.locator("input.ms").fill("400")
    fan.get_by_role("button", name="pulse fan").click()
    fan.locator(".progress[data-state=done]").wait_for()
    assert fan.locator(".outcome").inner_text() == "relay.pulse done: fan on for 400 ms"
    page.locator("#events li[data-kind=relay]", has_text="fan off (pulse_end)").wait_for()
    page.wait_for_selector('.relay[data-relay="fan"][data-on="false"]')

    # A pulse length the board would refuse is stopped on the page, with the reason.
    fan.locator("input.ms").fill("0")
    fan.get_by_role("button", name="pulse fan").click()
    assert "give 1 to 3600000 ms" in fan.locator(".outcome").inner_text()

    # A command the board refuses (from a script) shows as failed, with the board's error.
    cmd = server.api(
        "POST",
        "/api/devices/%s/commands" % DEVICE,
        {"method": "relay.set", "params": {"relay": "boiler", "on": True}},
    )
    failed = page.locator('#commands li[data-id="%s"][data-state=failed]' % cmd["command"]["id"])
    failed.wait_for()
    assert "unknown_relay" in failed.inner_text() and "boiler" in failed.inner_text()
    assert page.errors == []
    page.close()


def test_phone_sized_screen_nothing_overflows_sideways(browser, stack):
    server, _ = stack
    page = open_page(browser, server, {"width": 360, "height": 740})
    overflow = """() => {
        const w = document.documentElement.clientWidth;
        const wide = [...document.querySelectorAll('body *')].filter(e => {
            const r = e.getBoundingClientRect();
            return r.width > 0 && r.height > 0 && (r.right > w + 1 || r.left < -1);
        }).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));
        return {scroll: document.documentElement.scrollWidth, width: w, wide};
    }"""
    page.wait_for_selector("#login:not([hidden])")
    res = page.evaluate(overflow)
    assert res["scroll"] <= res["width"] and res["wide"] == [], res
    log_in(page)
    page.wait_for_selector('figure[data-chart="air/temperature"][data-seq] canvas')
    page.locator('.relay[data-relay="heater"]').wait_for()
    res = page.evaluate(overflow)
    assert res["width"] == 360 and res["scroll"] <= res["width"] and res["wide"] == [], res
    # One column: the charts take the phone's width, and the relay switch is reachable.
    box = page.locator('figure[data-chart="air/temperature"] canvas').bounding_box()
    assert box["width"] > 250
    page.get_by_role("switch", name="heater").scroll_into_view_if_needed()
    assert page.get_by_role("switch", name="heater").is_visible()
    assert page.errors == []
    page.close()


def test_the_chart_library_is_refused_unless_it_is_the_pinned_tarball(tmp_path):
    e = pytest.raises(vendor.VendorError, vendor.unpack, b"not the uPlot tarball", str(tmp_path))
    assert "expected " + vendor.SHA256 in str(e.value) and "refusing it" in str(e.value)
    assert os.listdir(tmp_path) == [] and not vendor.installed(str(tmp_path))


def test_a_board_going_offline_shows_and_its_command_waits_until_it_is_back(browser, stack):
    server, board = stack
    page = open_page(browser, server, {"width": 1024, "height": 800})
    log_in(page)
    row = page.locator('#device-list li[data-device="%s"]' % DEVICE)
    row.locator(".state", has_text="online").wait_for()
    board.power_cut()
    row.locator(".state", has_text="offline").wait_for()
    assert page.inner_text("#d-state") == "offline"
    page.locator("#events li[data-kind=link]", has_text="offline").first.wait_for()

    # A switch flipped now queues the command; it goes out when the board is back, and is done.
    fan = relay(page, "fan")
    page.get_by_role("switch", name="fan").click()
    fan.locator(".progress[data-state=queued]").wait_for()
    assert fan.locator(".outcome").inner_text() == "relay.set queued: waits for the device"
    board.start()
    fan.locator(".progress[data-state=done]").wait_for(timeout=60_000)
    assert fan.locator(".outcome").inner_text() == "relay.set done: fan on"
    row.locator(".state", has_text="online").wait_for()
    page.wait_for_selector('.relay[data-relay="fan"][data-on="true"]')
    assert page.errors == []
    page.close()
