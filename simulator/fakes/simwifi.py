"""The simulated Wi-Fi radio behind the `network` fake: one Radio per board, in board().wlan.

The station associates with the world's access points (board().world.access_points()) as
board().air lets the board hear them (simboard.Airwaves: dropped APs, forced RSSI). One
association attempt takes world.wifi_connect_ms() on the board's clock and is settled lazily by
poll(), which every network call runs first. As ESP-IDF and the port do: a lost AP means a
beacon timeout, then re-association attempts for ever (config reconnects=n: n more) that pick the
AP up again when it comes back; a failed attempt leaves its reason for status().
Portable: CPython and the MicroPython unix interpreter.
"""

import simboard

STA = 0
AP = 1
OPEN = 0  # AUTH_OPEN
WEP = 1
AUTH_MAX = 17
BEACON_TIMEOUT = 200
NO_AP_FOUND = 201
WRONG_PASSWORD = 202
ASSOC_LEAVE = 8  # ESP-IDF's reason after disconnect() or active(False)
INVALID_ARG = "Wifi Unknown Error 0x0102"  # ESP_ERR_INVALID_ARG, which the port passes through
NOT_STARTED = "Wifi Not Started"
ZERO = "0.0.0.0"
LOOPBACK = ("127.0.0.1", "255.0.0.0", "127.0.0.1")  # the board's sockets are the host's
AP_DEFAULT = ("192.168.4.1", "255.255.255.0", "192.168.4.1")  # ESP-IDF's soft-AP network


class Radio:
    """One board's Wi-Fi: both interfaces, the station's link, the settings."""

    def __init__(self, b):
        ap_mac = b.mac[:5] + bytes(((b.mac[5] + 1) & 255,))  # ESP32: soft-AP MAC = base MAC + 1
        self.active = [False, False]  # STA, AP
        self.mac = [b.mac, ap_mac]
        self.sta = ["", "", None]  # ssid, key, bssid that connect() was given
        self.requested = False  # connect() wants a link; the port re-associates while set
        self.connected = False
        self.link = None  # the AP associated with, as board().air hears it (a 7-tuple)
        self.reason = 0  # last disconnect reason: 200-212, ASSOC_LEAVE, 0 = none
        self.started_at = 0  # board ms when the current association attempt began
        self.tries = 0  # failed attempts since connect()
        self.max_tries = 0  # config(reconnects=n) + 1; 0 = for ever
        self.channel = 1
        self.ap = {"ssid": "ESP_%02X%02X%02X" % tuple(ap_mac[3:]), "key": "", "security": OPEN}
        self.ap.update({"hidden": False, "max_clients": 10})
        self.hostname = "mpy-" + b.chip.lower().replace("-", "")  # mpy-esp32, mpy-esp32s3...
        self.country = "XX"
        self.txpower = 80  # quarter dBm: 20 dBm
        self.pm = 1  # PM_PERFORMANCE, ESP-IDF's default
        self.protocol = [7, 7]
        self.static = [None, None]  # (ip, mask, gw) set by ifconfig()/ipconfig(); STA: no DHCP
        self.dns = None  # set by ifconfig()/ipconfig(dns=); None: what DHCP gave
        self.prefer = 4

    def attempting(self):
        """connect() was called and the port is still (re)trying."""
        return self.requested and not self.connected and (not self.max_tries or self.tries < self.max_tries)

    def status(self):
        """network.WLAN(STA_IF).status(), in the order the port decides it."""
        if self.connected:
            return 1010  # STAT_GOT_IP
        if self.reason in (NO_AP_FOUND, 210, 211, 212, WRONG_PASSWORD):
            return self.reason
        if self.reason == ASSOC_LEAVE:
            return 1000  # STAT_IDLE
        if self.attempting():
            return 1001  # STAT_CONNECTING
        return self.reason or 1000

    def leave(self):
        """disconnect() / active(False): the link and the wish for one are gone."""
        if self.connected or self.attempting():
            self.reason = ASSOC_LEAVE
        self.connected = self.requested = False

    def dns_server(self):
        if self.dns is not None:
            return self.dns
        return LOOPBACK[2] if self.connected else ZERO

    def addresses(self, interface):
        """(ip, netmask, gateway) of an interface."""
        if interface == AP:
            return self.static[1] or AP_DEFAULT
        if self.static[0] is not None:
            return self.static[0]
        return LOOPBACK if self.connected else (ZERO, ZERO, ZERO)


def now(b):
    return b.clock() if b.clock is not None else simboard.host_ms()


def heard(b, ssid=None, bssid=None):
    """The access points the board hears (optionally one SSID / BSSID), strongest first."""
    aps = b.air.heard(b.world.access_points())
    aps = [a for a in aps if (ssid is None or a[0] == ssid) and (bssid is None or a[1] == bssid)]
    return sorted(aps, key=lambda a: -a[3])


def poll(b, r):
    """Settle the station's link with the world: lost beacons, a finished association attempt."""
    if not r.active[STA]:
        return
    if r.connected:
        same = heard(b, r.link[0], r.link[1])
        if same:
            r.link = same[0]  # its RSSI may have changed
            return
        r.connected, r.reason, r.started_at = False, BEACON_TIMEOUT, now(b)
    if not r.attempting() or now(b) - r.started_at < b.world.wifi_connect_ms():
        return
    aps = heard(b, r.sta[0], r.sta[2])
    if aps and (aps[0][4] == OPEN or aps[0][6] == r.sta[1]):
        r.connected, r.link, r.reason, r.channel = True, aps[0], 0, aps[0][2]
        return
    r.reason = WRONG_PASSWORD if aps else NO_AP_FOUND
    r.tries += 1
    r.started_at = now(b)


def radio(settle=True):
    """(board, its Radio), made on first use and settled with the world."""
    b = simboard.board()
    if b.wlan is None:
        b.wlan = Radio(b)
    if settle:
        poll(b, b.wlan)
    return b, b.wlan


# ---- argument checks, as the port's C conversions make them


def text(value, limit):
    if isinstance(value, (bytes, bytearray)):
        value = str(value, "utf-8")
    if not isinstance(value, str):
        raise TypeError("object with buffer protocol required")
    return value[:limit]


def integer(value):
    if not isinstance(value, int):
        raise TypeError("can't convert %s to int" % type(value).__name__)
    return value


def ipv4(value):
    parts = text(value, 15).split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ValueError("invalid arguments")
    return ".".join(str(int(p)) for p in parts)


def netmask(value):
    """A dotted netmask, or one from a prefix length (24 -> 255.255.255.0)."""
    if isinstance(value, int):
        bits = (0xFFFFFFFF << (32 - value)) & 0xFFFFFFFF
        return ".".join(str((bits >> s) & 255) for s in (24, 16, 8, 0))
    return ipv4(value)


def require(interface, needed):
    if interface != needed:
        raise OSError("STA required" if needed == STA else "AP required")


def started(r):
    if not (r.active[STA] or r.active[AP]):
        raise OSError(NOT_STARTED)


# ---- WLAN.config()


def get_config(r, interface, param):
    if not isinstance(param, str):
        raise TypeError("can't convert %s to str" % type(param).__name__)
    if param == "mac":
        return r.mac[interface]
    if param in ("ssid", "essid"):
        return r.sta[0] if interface == STA else r.ap["ssid"]
    if param in ("channel", "pm", "max_clients"):
        return r.ap["max_clients"] if param == "max_clients" else getattr(r, param)
    if param == "protocol":
        return r.protocol[interface]
    if param == "txpower":
        started(r)
        return r.txpower * 0.25
    if param in ("hidden", "security", "authmode"):
        require(interface, AP)
        return r.ap["hidden"] if param == "hidden" else r.ap["security"]
    if param in ("hostname", "dhcp_hostname", "reconnects"):
        require(interface, STA)
        return r.hostname if param != "reconnects" else r.max_tries - 1
    raise ValueError("unknown config param")


def set_config(r, interface, settings, set_hostname):
    """Apply config(**settings); the soft-AP part only if ESP-IDF would accept all of it."""
    if interface == AP and not r.active[AP]:
        raise OSError("Wifi Invalid Mode")  # ESP-IDF refuses an AP config while the AP is off
    ap = dict(r.ap)
    for key, value in settings.items():
        if key == "mac":
            mac = bytes(value)
            if len(mac) != 6:
                raise ValueError("invalid buffer length")
            if mac[0] & 1:
                raise OSError("Wifi Invalid MAC Address")  # a multicast address
            r.mac[interface] = mac
        elif key in ("hostname", "dhcp_hostname"):
            set_hostname(value)
        elif key == "channel":
            if not 1 <= integer(value) <= 14:
                raise RuntimeError(INVALID_ARG)
            r.channel = value
        elif key == "txpower":
            started(r)
            power = int(float(value) * 4)
            if not 8 <= power <= 84:
                raise RuntimeError(INVALID_ARG)
            r.txpower = power
        elif key == "pm":
            if integer(value) not in (0, 1, 2):
                raise RuntimeError(INVALID_ARG)
            r.pm = value
        elif key == "protocol":
            r.protocol[interface] = integer(value)
        elif key == "reconnects":
            require(interface, STA)
            r.max_tries = 0 if integer(value) == -1 else value + 1
        elif key in ("ssid", "essid", "key", "password"):
            require(interface, AP)
            ap["ssid" if key in ("ssid", "essid") else "key"] = text(value, 32 if "ssid" in key else 63)
        elif key in ("hidden", "security", "authmode", "max_clients"):
            require(interface, AP)
            name = "security" if key == "authmode" else key
            ap[name] = bool(value) if key == "hidden" else integer(value)
        else:
            raise ValueError("unknown config param")
    if ap["security"] == WEP or not OPEN <= ap["security"] < AUTH_MAX:
        raise RuntimeError(INVALID_ARG)  # no WEP soft-AP
    if ap["security"] != OPEN and len(ap["key"]) < 8:
        raise OSError("Wifi Invalid Password")
    r.ap = ap
