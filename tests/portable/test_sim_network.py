"""The simulator's `network` fake behaves as MicroPython's ESP32 port: WLAN station and access point."""

import network
import simboard
from network import WLAN

from wsutil import raises

HOME = ("home", b"\x10\x20\x30\x40\x50\x60", 6, -55, network.AUTH_WPA2_PSK, False, "correct horse")
CAFE = ("cafe", b"\x10\x20\x30\x40\x50\x61", 11, -80, network.AUTH_OPEN, False, "")
HIDDEN = ("attic", b"\x10\x20\x30\x40\x50\x62", 1, -90, network.AUTH_WPA2_PSK, True, "upstairs1")


class World(simboard.QuietWorld):
    """Access points in range and how long an association takes; changed by the tests."""

    def __init__(self, aps=(HOME, CAFE, HIDDEN), connect_ms=0):
        self.aps = list(aps)
        self.connect_ms = connect_ms

    def access_points(self):
        return self.aps

    def wifi_connect_ms(self):
        return self.connect_ms


class Clock:
    """The board's milliseconds, moved by hand."""

    def __init__(self):
        self.t = 0

    def __call__(self):
        return self.t


def new_board(chip="ESP32", **world):
    board = simboard.use(simboard.SimBoard(chip=chip, world=World(**world)))
    board.clock = Clock()
    return board


def station(**world):
    board = new_board(**world)
    sta = WLAN(network.STA_IF)
    sta.active(True)
    return board, sta


def message(exc_type, fn, *args, **kwargs):
    return raises(exc_type, fn, *args, **kwargs).args[0]


# ---- interfaces


def test_wlan_takes_sta_or_ap_only():
    new_board()
    assert WLAN().config("hostname") == "mpy-esp32"  # the default is the station
    assert WLAN.IF_STA == network.STA_IF == 0 and WLAN.IF_AP == network.AP_IF == 1
    assert message(ValueError, WLAN, 2) == "invalid WLAN interface identifier"
    raises(TypeError, WLAN, "sta")


def test_active_switches_interfaces_and_the_boards_wifi_flag():
    board = new_board()
    sta, ap = WLAN(network.STA_IF), WLAN(network.AP_IF)
    assert sta.active() is False and board.wifi_active is False
    assert sta.active(True) is True and board.wifi_active is True
    assert ap.active(1) is True and ap.active() is True
    sta.active(False)
    assert board.wifi_active is True  # the AP still uses the radio
    ap.active(False)
    assert board.wifi_active is False


def test_connecting_an_inactive_station_raises_as_the_port():
    new_board()
    sta, ap = WLAN(network.STA_IF), WLAN(network.AP_IF)
    assert message(OSError, sta.connect, "home", "correct horse") == "Wifi Not Started"
    assert message(OSError, sta.disconnect) == "Wifi Not Started"
    ap.active(True)
    assert message(OSError, sta.connect, "home", "correct horse") == "Wifi Invalid Mode"


# ---- association


def test_the_right_password_gets_an_address():
    board, sta = station()
    sta.connect("home", "correct horse")
    assert sta.isconnected() and sta.status() == network.STAT_GOT_IP
    assert sta.status("rssi") == -55
    assert sta.config("ssid") == "home" and sta.config("channel") == 6
    assert sta.ifconfig() == ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
    assert sta.ipconfig("addr4") == ("127.0.0.1", "255.0.0.0") and sta.ipconfig("gw4") == "127.0.0.1"
    assert sta.ipconfig("dhcp4") is True and network.ipconfig("dns") == "127.0.0.1"


def test_an_association_takes_the_worlds_time_and_reports_connecting():
    board, sta = station(connect_ms=1500)
    sta.connect("home", "correct horse")
    assert sta.status() == network.STAT_CONNECTING and not sta.isconnected()
    assert sta.scan() == []  # ESP-IDF refuses to scan while associating
    assert sta.ifconfig()[0] == "0.0.0.0"
    board.clock.t = 1499
    assert sta.status() == network.STAT_CONNECTING
    board.clock.t = 1500
    assert sta.status() == network.STAT_GOT_IP and sta.isconnected()


def test_a_wrong_password_is_reported_and_retried_until_disconnect():
    board, sta = station()
    sta.connect("home", "wrong horse")
    assert sta.status() == network.STAT_WRONG_PASSWORD and not sta.isconnected()
    assert message(OSError, sta.connect, "home", "correct horse") == "Wifi Internal Error"
    sta.disconnect()
    assert sta.status() == network.STAT_IDLE
    sta.connect("home", "correct horse")
    assert sta.isconnected()


def test_an_unknown_ssid_is_no_ap_found_and_open_networks_take_any_key():
    board, sta = station()
    sta.connect("nowhere", "x")
    assert sta.status() == network.STAT_NO_AP_FOUND
    sta.disconnect()
    sta.connect("cafe", "whatever")
    assert sta.isconnected() and sta.config("channel") == 11


def test_reconnects_limits_the_attempts():
    board, sta = station(connect_ms=100)
    sta.config(reconnects=1)  # two attempts in all
    assert sta.config("reconnects") == 1
    sta.connect("nowhere")
    board.clock.t = 100
    assert sta.status() == network.STAT_NO_AP_FOUND
    board.clock.t = 200
    sta.status()  # the second attempt fails too
    board.world.aps.append(("nowhere", b"\x01\x02\x03\x04\x05\x06", 3, -60, 0, False, ""))
    board.clock.t = 10000
    assert sta.status() == network.STAT_NO_AP_FOUND  # gave up: no third attempt
    sta.connect()  # allowed again, with the SSID given last time
    board.clock.t = 10100
    assert sta.isconnected()


def test_a_bssid_picks_one_access_point_of_a_mesh():
    far = ("home", b"\x10\x20\x30\x40\x50\x70", 1, -85, network.AUTH_WPA2_PSK, False, "correct horse")
    board, sta = station(aps=(far, HOME))
    sta.connect("home", "correct horse")
    assert sta.status("rssi") == -55  # the strongest one
    sta.connect("home", "correct horse", bssid=far[1])
    assert sta.status("rssi") == -85 and sta.config("channel") == 1
    sta.disconnect()
    raises(ValueError, sta.connect, "home", "correct horse", bssid=b"\x01")


# ---- faults: dropped access points, weak signal


def test_a_dropped_access_point_breaks_the_link_until_it_is_back():
    board, sta = station()
    sta.connect("home", "correct horse")
    board.air.drop("home")
    assert not sta.isconnected() and sta.status() == network.STAT_NO_AP_FOUND
    assert [ap[0] for ap in sta.scan()] == [b"cafe", b""]
    board.air.restore("home")
    assert sta.isconnected() and sta.status() == network.STAT_GOT_IP  # the port re-associates


def test_a_lost_beacon_shows_connecting_while_the_port_retries():
    board, sta = station(connect_ms=1000)
    sta.connect("home", "correct horse")
    board.clock.t = 1000
    assert sta.isconnected()
    board.air.drop()  # every access point
    assert not sta.isconnected() and sta.status() == network.STAT_CONNECTING
    assert raises(OSError, sta.status, "rssi").args[0] == "Wifi Not Connected"
    board.clock.t = 2000
    assert sta.status() == network.STAT_NO_AP_FOUND
    board.air.restore()
    board.clock.t = 3000
    assert sta.isconnected()


def test_forced_rssi_shows_in_status_and_too_weak_is_out_of_range():
    board, sta = station()
    sta.connect("home", "correct horse")
    board.air.set_rssi("home", -72)
    assert sta.status("rssi") == -72
    board.air.set_rssi("home", -100)
    assert not sta.isconnected()
    board.air.set_rssi("home", None)
    assert sta.isconnected() and sta.status("rssi") == -55


def test_leaving_the_network_is_idle_and_does_not_reconnect():
    board, sta = station()
    sta.connect("home", "correct horse")
    sta.active(False)
    assert not sta.isconnected() and sta.status() == network.STAT_IDLE
    sta.active(True)
    assert not sta.isconnected() and sta.status() == network.STAT_IDLE


def test_each_board_has_its_own_radio():
    board, sta = station()
    sta.connect("home", "correct horse")
    other = new_board()
    assert WLAN(network.STA_IF).active() is False and not WLAN(network.STA_IF).isconnected()
    simboard.use(board)
    assert sta.isconnected()
    assert other.wlan is not board.wlan


# ---- scan, status, config


def test_scan_gives_the_ports_tuples_strongest_first():
    board, sta = station()
    assert sta.scan() == [
        (b"home", HOME[1], 6, -55, network.AUTH_WPA2_PSK, False),
        (b"cafe", CAFE[1], 11, -80, network.AUTH_OPEN, False),
        (b"", HIDDEN[1], 1, -90, network.AUTH_WPA2_PSK, False),  # hidden: no SSID, flag False
    ]
    sta.active(False)
    assert message(OSError, sta.scan) == "STA must be active"


def test_status_parameters_belong_to_their_interface():
    board, sta = station()
    ap = WLAN(network.AP_IF)
    ap.active(True)
    assert ap.status() is None and ap.status("stations") == [] and not ap.isconnected()
    assert message(OSError, sta.status, "stations") == "AP required"
    assert message(OSError, ap.status, "rssi") == "STA required"
    assert message(ValueError, sta.status, "noise") == "unknown status param"


def test_config_reads_and_sets_the_ports_parameters():
    board, sta = station()
    mac = sta.config("mac")
    assert mac == board.mac and len(mac) == 6
    assert WLAN(network.AP_IF).config("mac") == mac[:5] + bytes(((mac[5] + 1) & 255,))
    assert sta.config("txpower") == 20.0 and sta.config("pm") == WLAN.PM_PERFORMANCE
    sta.config(txpower=15, pm=WLAN.PM_NONE, hostname="probe-7")
    assert sta.config("txpower") == 15.0 and sta.config("pm") == 0
    assert sta.config("hostname") == "probe-7" == network.hostname()
    sta.config(mac=b"\x02\x00\x00\x00\x00\x01")
    assert sta.config("mac") == b"\x02\x00\x00\x00\x00\x01"
    assert message(RuntimeError, sta.config, txpower=30) == "Wifi Unknown Error 0x0102"
    assert message(RuntimeError, sta.config, channel=15) == "Wifi Unknown Error 0x0102"
    assert message(OSError, sta.config, mac=b"\x01\x00\x00\x00\x00\x01") == "Wifi Invalid MAC Address"
    raises(ValueError, sta.config, mac=b"\x02\x00")
    assert message(OSError, sta.config, ssid="x") == "AP required"
    assert message(OSError, sta.config, "security") == "AP required"
    assert message(ValueError, sta.config, "key") == "unknown config param"
    assert message(TypeError, sta.config) == "can query only one param"
    raises(TypeError, sta.config, "mac", pm=0)
    sta.active(False)
    assert message(OSError, sta.config, "txpower") == "Wifi Not Started"


def test_the_access_point_is_configured_while_active():
    new_board()
    ap = WLAN(network.AP_IF)
    assert message(OSError, ap.config, ssid="node") == "Wifi Invalid Mode"
    ap.active(True)
    mac = ap.config("mac")
    assert ap.config("ssid") == "ESP_%02X%02X%02X" % (mac[3], mac[4], mac[5])
    assert ap.config("security") == network.AUTH_OPEN and ap.config("hidden") is False
    ap.config(ssid="node-7", key="secret99", security=network.AUTH_WPA2_PSK, hidden=True)
    assert (ap.config("ssid"), ap.config("security"), ap.config("hidden")) == ("node-7", 3, True)
    assert message(OSError, ap.config, key="short") == "Wifi Invalid Password"
    assert message(RuntimeError, ap.config, security=network.AUTH_WEP) == "Wifi Unknown Error 0x0102"
    assert ap.config("ssid") == "node-7"  # a refused config changes nothing
    assert ap.ifconfig() == ("192.168.4.1", "255.255.255.0", "192.168.4.1", "0.0.0.0")
    assert message(OSError, ap.config, "hostname") == "STA required"


def test_static_addresses_and_dhcp():
    board, sta = station()
    sta.ifconfig(("10.0.0.5", 24, "10.0.0.1", "9.9.9.9"))
    assert sta.ifconfig() == ("10.0.0.5", "255.255.255.0", "10.0.0.1", "9.9.9.9")
    assert sta.ipconfig("dhcp4") is False
    sta.connect("home", "correct horse")
    assert sta.ifconfig()[0] == "10.0.0.5"
    sta.ifconfig("dhcp")
    assert sta.ifconfig()[0] == "127.0.0.1"
    sta.ipconfig(addr4="10.1.1.2/16", gw4="10.1.0.1")
    assert sta.ipconfig("addr4") == ("10.1.1.2", "255.255.0.0") and sta.ipconfig("gw4") == "10.1.0.1"
    raises(ValueError, sta.ifconfig, ("10.0.0.5", "255.255.255.0", "10.0.0.1"))
    assert message(ValueError, sta.ifconfig, ("10.0.0.500", 24, "10.0.0.1", "1.1.1.1")) == "invalid arguments"
    assert message(ValueError, WLAN(network.AP_IF).ifconfig, "dhcp") == "invalid arguments"
    assert message(TypeError, sta.ipconfig) == "must query one param"
    assert message(ValueError, sta.ipconfig, "mtu") == "unexpected key"
    network.ipconfig(dns="8.8.4.4")
    assert network.ipconfig("dns") == "8.8.4.4" and sta.ifconfig()[3] == "8.8.4.4"


def test_hostname_and_country_follow_the_port():
    new_board(chip="ESP32-S3")
    assert network.hostname() == "mpy-esp32s3" and network.country() == "XX"
    network.hostname("greenhouse")
    assert network.hostname() == "greenhouse"
    assert message(ValueError, network.hostname, "x" * 32) == "hostname too long"
    raises(TypeError, network.hostname, 5)
    network.country("DE")
    assert network.country() == "DE"
    raises(ValueError, network.country, "DEU")
    assert network.phy_mode() is None
