"""Fake of MicroPython's ESP32 `network` module: WLAN station and access point on a simulated radio.

WLAN objects are handles on the board's radio (simwifi.Radio in board().wlan, looked up at every
call). The station associates with the world's access points as board().air lets the board
hear them, each attempt taking world.wifi_connect_ms() on the board's clock. As on the port:
connect() retries for ever (config reconnects=n: n more times) and re-associates when the AP
comes back; status() passes the failure reason through (STAT_NO_AP_FOUND, STAT_WRONG_PASSWORD,
STAT_BEACON_TIMEOUT...); connect() during an attempt raises OSError('Wifi Internal Error');
scan() blanks hidden SSIDs (b"", hidden=False) and returns [] during an attempt; wrong use raises
the port's exceptions (OSError('Wifi Not Started'), RuntimeError('Wifi Unknown Error 0x0102')...).

Addresses: the board's sockets are the host's, over loopback, so a connected station reports
127.0.0.1/255.0.0.0 (gateway and DNS 127.0.0.1) unless given a static address; the access point
reports the port's default 192.168.4.1/24 and no station ever joins it.
Portable: CPython and the MicroPython unix interpreter.
"""

import simwifi as _wifi

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_CONNECT_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204
STAT_NO_AP_FOUND_W_COMPATIBLE_SECURITY = 210
STAT_NO_AP_FOUND_IN_AUTHMODE_THRESHOLD = 211
STAT_NO_AP_FOUND_IN_RSSI_THRESHOLD = 212
AUTH_OPEN = 0
AUTH_WEP = 1
AUTH_WPA_PSK = 2
AUTH_WPA2_PSK = 3
AUTH_WPA_WPA2_PSK = 4
AUTH_WPA2_ENTERPRISE = 5
AUTH_WPA3_PSK = 6
AUTH_WPA2_WPA3_PSK = 7
AUTH_WAPI_PSK = 8
AUTH_OWE = 9
AUTH_WPA3_ENT_192 = 10
AUTH_WPA3_EXT_PSK = 11
AUTH_WPA3_EXT_PSK_MIXED_MODE = 12
AUTH_MAX = 17
MODE_11B = 1
MODE_11G = 2
MODE_11N = 4
MODE_LR = 8

_UNSET = object()


def hostname(name=_UNSET):
    """The DHCP / mDNS host name (default mpy-esp32, mpy-esp32s3...)."""
    b, r = _wifi.radio(False)
    if name is _UNSET:
        return r.hostname
    name = _wifi.text(name, 64)
    if len(name) >= 32:
        raise ValueError("hostname too long")
    r.hostname = name


def country(code=_UNSET):
    """The two-letter Wi-Fi country code (default "XX")."""
    b, r = _wifi.radio(False)
    if code is _UNSET:
        return r.country
    code = _wifi.text(code, 3)
    if len(code) != 2:
        raise ValueError
    r.country = code


def ipconfig(*args, **kwargs):
    """Global IP settings: ipconfig('dns'), ipconfig(dns='1.1.1.1'), 'prefer' (4 or 6)."""
    b, r = _wifi.radio()
    if not kwargs:
        if len(args) != 1:
            raise TypeError("must query one param")
        if args[0] in ("dns", "prefer"):
            return r.dns_server() if args[0] == "dns" else r.prefer
        raise ValueError("unexpected key")
    if args:
        raise TypeError("can't specify pos and kw args")
    for key, value in kwargs.items():
        if key == "dns":
            r.dns = _wifi.ipv4(value)
        elif key == "prefer" and value in (4, 6):
            r.prefer = value
        else:
            raise ValueError("unexpected key")


def phy_mode(mode=None):
    return None


class WLAN:
    """A handle on the board's station (IF_STA) or access point (IF_AP) interface."""

    IF_STA = 0
    IF_AP = 1
    SEC_OPEN = 0
    SEC_WEP = 1
    SEC_WPA = 2
    SEC_WPA2 = 3
    SEC_WPA_WPA2 = 4
    SEC_WPA2_ENT = 5
    SEC_WPA3 = 6
    SEC_WPA2_WPA3 = 7
    SEC_WAPI = 8
    SEC_OWE = 9
    SEC_WPA3_ENT_192 = 10
    SEC_WPA3_EXT_PSK = 11
    SEC_WPA3_EXT_PSK_MIXED_MODE = 12
    SEC_DPP = 13
    SEC_WPA3_ENT = 14
    SEC_WPA2_WPA3_ENT = 15
    SEC_WPA_ENT = 16
    PM_NONE = 0
    PM_PERFORMANCE = 1
    PM_POWERSAVE = 2
    BANDWIDTH_20 = 1
    BANDWIDTH_40 = 2
    BANDWIDTH_80 = 3
    BANDWIDTH_160 = 4
    BANDWIDTH_80_80 = 5
    PROTOCOL_DEFAULT = 7
    PROTOCOL_LR = 8

    def __init__(self, interface_id=STA_IF):
        if _wifi.integer(interface_id) not in (STA_IF, AP_IF):
            raise ValueError("invalid WLAN interface identifier")
        self._if = interface_id

    def active(self, is_active=_UNSET):
        """Whether the interface is up; active(True/False) switches it (and says so)."""
        b, r = _wifi.radio()
        if is_active is not _UNSET:
            if not is_active and self._if == STA_IF:
                r.leave()
            r.active[self._if] = bool(is_active)
            b.wifi_active = r.active[STA_IF] or r.active[AP_IF]
        return r.active[self._if]

    def _station_up(self, r):
        if not r.active[STA_IF]:
            raise OSError("Wifi Invalid Mode" if r.active[AP_IF] else _wifi.NOT_STARTED)

    def connect(self, ssid=_UNSET, key=_UNSET, *, bssid=None):
        """Start associating (with the last SSID and key given when called without them)."""
        b, r = _wifi.radio()
        if ssid is not _UNSET or key is not _UNSET:
            sta = ["" if ssid in (_UNSET, None) else _wifi.text(ssid, 32), "", None]
            sta[1] = "" if key in (_UNSET, None) else _wifi.text(key, 64)
            if bssid is not None:
                if len(bssid) != 6:
                    raise ValueError
                sta[2] = bytes(bssid)
            r.sta = sta
        self._station_up(r)
        if r.attempting():
            raise OSError("Wifi Internal Error")  # ESP-IDF: "sta is connecting, return error"
        if r.connected:
            r.connected, r.reason = False, _wifi.ASSOC_LEAVE
        r.requested, r.tries, r.started_at = True, 0, _wifi.now(b)
        _wifi.poll(b, r)

    def disconnect(self):
        b, r = _wifi.radio()
        self._station_up(r)
        r.leave()

    def isconnected(self):
        """Station: associated and addressed. Access point: never (no simulated stations join)."""
        b, r = _wifi.radio()
        return r.connected if self._if == STA_IF else False

    def status(self, param=_UNSET):
        """The station's STAT_* code (None on the AP), or status('rssi'), status('stations')."""
        b, r = _wifi.radio()
        if param is _UNSET:
            return r.status() if self._if == STA_IF else None
        if param == "stations":
            _wifi.require(self._if, AP_IF)
            return []
        if param == "rssi":
            _wifi.require(self._if, STA_IF)
            if not r.connected:
                raise OSError("Wifi Not Connected")
            return r.link[3]
        raise ValueError("unknown status param")

    def scan(self):
        """[(ssid, bssid, channel, RSSI, security, hidden)] heard, strongest first."""
        b, r = _wifi.radio()
        if not r.active[STA_IF]:
            raise OSError("STA must be active")
        if r.attempting() and _wifi.now(b) - r.started_at < b.world.wifi_connect_ms():
            return []  # ESP-IDF refuses to scan while associating; the port returns []
        return [(b"" if a[5] else a[0].encode(), a[1], a[2], a[3], a[4], False) for a in _wifi.heard(b)]

    def ifconfig(self, config=_UNSET):
        """(ip, netmask, gateway, dns), or set them: a 4-tuple, or 'dhcp' on the station."""
        b, r = _wifi.radio()
        if config is _UNSET:
            dns = r.dns_server() if self._if == STA_IF else r.dns or _wifi.ZERO
            return r.addresses(self._if) + (dns,)
        if isinstance(config, (tuple, list)):
            if len(config) != 4:
                raise ValueError("requested length 4 but object has length %d" % len(config))
            ip, mask, gw = _wifi.ipv4(config[0]), _wifi.netmask(config[1]), _wifi.ipv4(config[2])
            r.dns = _wifi.ipv4(config[3])
            r.static[self._if] = (ip, mask, gw)
        elif self._if == STA_IF and _wifi.text(config, 8) == "dhcp":
            r.static[STA_IF] = None
        else:
            raise ValueError("invalid arguments")

    def ipconfig(self, *args, **kwargs):
        """Interface IP settings: 'addr4' (ip, netmask), 'gw4', 'dhcp4' (station only)."""
        b, r = _wifi.radio()
        ip, mask, gw = r.addresses(self._if)
        if not kwargs:
            if len(args) != 1:
                raise TypeError("must query one param")
            if args[0] == "addr4":
                return (ip, mask)
            if args[0] == "gw4":
                return gw
            if args[0] == "dhcp4" and self._if == STA_IF:
                return r.static[STA_IF] is None
            raise ValueError("unexpected key")
        if args:
            raise TypeError("can't specify pos and kw args")
        for key, value in kwargs.items():
            if key == "dhcp4" and self._if == STA_IF:
                r.static[STA_IF] = None if value else (ip, mask, gw)
                continue
            if key == "addr4" and isinstance(value, str):
                addr, _, bits = value.partition("/")
                ip, mask = _wifi.ipv4(addr), _wifi.netmask(int(bits)) if bits else mask
            elif key == "addr4":
                ip, mask = _wifi.ipv4(value[0]), _wifi.netmask(value[1])
            elif key == "gw4":
                gw = _wifi.ipv4(value)
            else:
                raise ValueError("unexpected key")
            r.static[self._if] = (ip, mask, gw)

    def config(self, param=_UNSET, **kwargs):
        """Get one setting, config('mac'), or set some, config(ssid='x', key='y')."""
        if param is not _UNSET and kwargs:
            raise TypeError("either pos or kw args are allowed")
        b, r = _wifi.radio()
        if kwargs:
            _wifi.set_config(r, self._if, kwargs, hostname)
            return None
        if param is _UNSET:
            raise TypeError("can query only one param")
        return _wifi.get_config(r, self._if, param)
