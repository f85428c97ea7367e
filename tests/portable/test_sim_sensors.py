"""The simulator's dht, onewire, ds18x20 and ntptime fakes behave as MicroPython's drivers on an ESP32."""

import errno

import dht
import ds18x20
import ntptime
import onewire
import simboard
import simonewire
from simonewire import DS18B20

from wsutil import raises


class World(simboard.QuietWorld):
    """Sensors by GPIO and a clock for ntptime; set by the tests, asked by the fakes."""

    def __init__(self):
        self.dht = {}  # GPIO -> (C, %RH), None or 5 raw bytes
        self.asked = []  # (GPIO, model) of every DHT measurement
        self.buses = {}  # GPIO -> [devices]
        self.now = None  # seconds since 1970, or None: unreachable

    def dht_reading(self, pin, model):
        self.asked.append((pin, model))
        return self.dht.get(pin)

    def onewire_devices(self, pin):
        return self.buses.get(pin, [])

    def time_source(self):
        return self.now


def new_world():
    world = World()
    simboard.use(simboard.SimBoard(world=world))
    return world


def close(a, b):
    return abs(a - b) < 1e-6


# ---- DHT11 / DHT22


def test_dht22_reads_tenths_of_degrees_and_percent():
    world = new_world()
    world.dht[4] = (21.37, 45.62)
    sensor = dht.DHT22(4)
    sensor.measure()
    assert close(sensor.temperature(), 21.4) and close(sensor.humidity(), 45.6)
    world.dht[4] = (-5.55, 100.0)
    sensor.measure()
    assert close(sensor.temperature(), -5.6) and close(sensor.humidity(), 100.0)
    assert world.asked == [(4, "DHT22"), (4, "DHT22")]


def test_dht11_reads_whole_degrees_within_its_range():
    world = new_world()
    sensor = dht.DHT11(5)
    world.dht[5] = (23.7, 55.4)
    sensor.measure()
    assert (sensor.temperature(), sensor.humidity()) == (23, 55)  # the driver drops the tenths
    world.dht[5] = (61.0, 97.0)
    sensor.measure()
    assert (sensor.temperature(), sensor.humidity()) == (50, 90)
    world.dht[5] = (-3.0, 4.0)
    sensor.measure()
    assert (sensor.temperature(), sensor.humidity()) == (0, 20)
    assert world.asked[0] == (5, "DHT11")


def test_a_silent_dht_times_out_and_a_bad_frame_fails_its_checksum():
    world = new_world()
    sensor = dht.DHT22(4)
    assert raises(OSError, sensor.measure).errno == errno.ETIMEDOUT
    world.dht[4] = bytes((1, 200, 0, 215, 0))  # checksum should be 160
    e = raises(Exception, sensor.measure)
    assert type(e) is Exception and e.args[0] == "checksum error"


def test_dht_takes_a_machine_pin_or_anything_with_a_gpio_id():
    import machine

    world = new_world()
    world.dht[13] = (20.0, 50.0)

    class Wire:
        def id(self):
            return 13

    for pin in (machine.Pin(13), 13, Wire()):
        dht.DHT22(pin).measure()
    assert world.asked == [(13, "DHT22")] * 3
    raises(TypeError, dht.DHT22("thirteen").measure)


# ---- 1-Wire and DS18x20


def test_crc8_is_dallas_maxim():
    assert simonewire.crc8(b"\x02\x1c\xb8\x01\x00\x00\x00") == 0xA2  # Maxim AN27's example ROM
    assert simonewire.crc8(b"\x02\x1c\xb8\x01\x00\x00\x00\xa2") == 0
    rom = simonewire.make_rom(0x28, 0x0123456789AB)
    assert rom[0] == 0x28 and rom[1] == 0xAB and onewire.OneWire(4).crc8(rom) == 0


def three_sensors(world, gpio=12):
    devices = [DS18B20(1, 21.5), DS18B20(0xBEEF, -10.25), DS18B20(7, 23.75, family=0x10)]
    world.buses[gpio] = devices
    return devices


def test_scan_finds_every_sensor_on_the_bus():
    world = new_world()
    devices = three_sensors(world)
    ow = onewire.OneWire(12)
    roms = ow.scan()
    assert sorted(bytes(r) for r in roms) == sorted(d.rom for d in devices)
    assert len(ds18x20.DS18X20(ow).scan()) == 3
    assert onewire.OneWire(13).scan() == []  # nothing on that pin


def test_sensors_read_85_until_converted_then_the_worlds_temperature():
    world = new_world()
    b20, negative, s20 = three_sensors(world)
    ds = ds18x20.DS18X20(onewire.OneWire(12))
    assert ds.read_temp(b20.rom) == 85.0 and ds.read_temp(s20.rom) == 85.0
    ds.convert_temp()
    assert [ds.read_temp(d.rom) for d in (b20, negative, s20)] == [21.5, -10.25, 23.75]
    assert [d.conversions for d in (b20, negative, s20)] == [1, 1, 1]
    b20.temperature = 22.04
    assert ds.read_temp(b20.rom) == 21.5  # until the next conversion
    ds.convert_temp()
    assert ds.read_temp(b20.rom) == 22.0625  # 1/16 C steps at 12 bits


def test_the_resolution_byte_of_the_scratchpad_is_honoured():
    world = new_world()
    b20 = DS18B20(1, 21.3)
    world.buses[12] = [b20]
    ds = ds18x20.DS18X20(onewire.OneWire(12))
    ds.write_scratch(b20.rom, b"\x50\x05\x1f")  # TH, TL, 9-bit resolution
    ds.convert_temp()
    assert ds.read_temp(b20.rom) == 21.5 and ds.read_scratch(b20.rom)[2:5] == b"\x50\x05\x1f"


def test_a_crc_error_raises_as_the_driver_does():
    world = new_world()
    b20, negative, s20 = three_sensors(world)
    ds = ds18x20.DS18X20(onewire.OneWire(12))
    ds.convert_temp()
    negative.crc_error = True
    e = raises(Exception, ds.read_temp, negative.rom)
    assert type(e) is Exception and e.args[0] == "CRC error"
    assert ds.read_temp(b20.rom) == 21.5  # the others still read


def test_an_unplugged_sensor_disappears_and_an_empty_bus_raises():
    world = new_world()
    b20, negative, s20 = three_sensors(world)
    ow = onewire.OneWire(12)
    ds = ds18x20.DS18X20(ow)
    s20.present = False
    assert len(ds.scan()) == 2
    assert raises(Exception, ds.read_temp, s20.rom).args[0] == "CRC error"  # reads 0xFF bytes
    b20.present = negative.present = False
    assert ow.reset() is False and ow.scan() == []
    raises(onewire.OneWireError, ds.convert_temp)


def test_onewire_bytes_reach_the_device():
    world = new_world()
    b20 = DS18B20(99, 30.0)
    world.buses[4] = [b20]
    ow = onewire.OneWire(4)
    assert ow.reset(True) is True
    ow.writebyte(0x33)  # READ ROM, fine with one device on the bus
    rom = bytearray(8)
    ow.readinto(rom)
    assert rom == b20.rom
    ow.select_rom(rom)
    ow.write(b"\xb4")  # READ POWER SUPPLY: externally powered devices answer 1s
    assert ow.readbit() == 1 and ow.readbyte() == 0xFF
    ow.reset()
    ow.writebyte(ow.SKIP_ROM)
    ow.writebyte(0xBE)
    pad = bytearray(9)
    ow.readinto(pad)
    assert bytes(pad) == b20.scratchpad() and ow.crc8(pad) == 0


def test_alarm_search_finds_only_sensors_outside_their_limits():
    world = new_world()
    warm, mild = DS18B20(1, 80.0), DS18B20(2, 72.0)  # default alarm limits: TH 75, TL 70
    world.buses[4] = [warm, mild]
    ow = onewire.OneWire(4)
    ds18x20.DS18X20(ow).convert_temp()
    ow.SEARCH_ROM = 0xEC  # the same search with the ALARM SEARCH command
    assert [bytes(r) for r in ow.scan()] == [warm.rom]


def test_onewire_takes_a_machine_pin_and_makes_it_open_drain():
    import machine

    world = new_world()
    world.buses[15] = [DS18B20(5)]
    pin = machine.Pin(15)
    assert len(onewire.OneWire(pin).scan()) == 1
    raises(TypeError, onewire.OneWire, None)


# ---- ntptime


def test_ntptime_reads_the_worlds_clock():
    world = new_world()
    world.now = 1700000000
    assert ntptime.time() == 1700000000
    assert ntptime.host == "pool.ntp.org" and ntptime.timeout == 1


def test_an_unreachable_time_source_times_out():
    new_world()
    assert raises(OSError, ntptime.time).errno == errno.ETIMEDOUT
    assert raises(OSError, ntptime.settime).errno == errno.ETIMEDOUT


def test_settime_sets_the_boards_rtc():
    import machine

    world = new_world()
    world.now = 1700000000  # Tuesday 2023-11-14 22:13:20 UTC
    ntptime.settime()
    y, mo, d, wd, h, mi, s, us = machine.RTC().datetime()
    assert (y, mo, d, h, mi) == (2023, 11, 14, 22, 13) and s in (20, 21)
