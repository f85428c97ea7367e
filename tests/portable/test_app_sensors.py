"""The sensor drivers read what the simulated world measures, and report its faults as AppErrors.

Each test wires sensors in a simworld.World (noise off, a hand-driven clock) and builds drivers
from config.json-style specs with app.sensors.make().
"""

import binascii
import math
import sys

import esp32
import simboard
import simonewire
import simworld

from app.errors import AppError
from app.sensors import make
from wsutil import raises


class Clock:
    def __init__(self):
        self.ms = 0

    def __call__(self):
        return self.ms


WORLD = {
    "sensors": [
        {"kind": "dht22", "name": "air", "pin": 4, "noise": 0},
        {"kind": "dht11", "name": "shed", "pin": 5, "noise": 0},
        {"kind": "soil_moisture", "name": "soil", "pin": 34, "noise": 0},
        {"kind": "ds18b20", "name": "bench", "pin": 13, "serial": 5, "noise": 0},
        {"kind": "ds18b20", "name": "top", "pin": 14, "serial": 1, "noise": 0},
        {"kind": "ds18b20", "name": "middle", "pin": 14, "serial": 2, "noise": 0, "offset": 2.0},
        {"kind": "ds18b20", "name": "bottom", "pin": 14, "serial": 3, "noise": 0, "offset": -3.0},
        {"kind": "bme280", "name": "outside", "noise": 0},
        {"kind": "chip_temperature", "name": "chip", "noise": 0},
    ]
}
AIR = {"name": "air", "kind": "dht22", "pin": 4, "interval": 10}
SOIL = {
    "name": "soil",
    "kind": "analog",
    "pin": 34,
    "atten": 11,
    "quantity": "soil_moisture",
    "unit": "%",
    "calibration": [[2200, 0], [900, 100]],
}
BENCH = {"name": "bench", "kind": "ds18b20", "pin": 13}
OUTSIDE = {"name": "outside", "kind": "bme280", "sda": 21, "scl": 22, "address": 118}
CHIP = {"name": "chip", "kind": "chip_temperature"}


def new_world():
    clock = Clock()
    world = simworld.World(7, WORLD, clock)
    simboard.use(simboard.SimBoard(world=world))
    world.set("temperature", 21.3)
    return world


def reading(driver):
    """What a scheduler does: begin, wait as told (nothing to wait for here), read."""
    assert driver.begin() >= 0
    return driver.read()


def rom_hex(serial):
    return binascii.hexlify(simonewire.make_rom(0x28, serial)).decode()


def error(code, driver):
    e = raises(AppError, reading, driver)
    assert e.code == code, e
    assert "'%s'" % driver.name in e.message, e.message
    return e


def bad_spec(spec, *words):
    e = raises(AppError, make, spec)
    assert e.code == "config_invalid", e
    for w in words:
        assert w in e.message, (w, e.message)
    return e


# ---- make() and the common interface


def test_make_imports_only_the_module_of_the_sensors_kind():
    mods = ("chip", "analog", "dhtxx", "ds18b20", "bme280")
    for m in mods:
        sys.modules.pop("app.sensors." + m, None)
    new_world()
    make(AIR)
    assert [m for m in mods if "app.sensors." + m in sys.modules] == ["dhtxx"]


def test_every_driver_has_name_kind_quantities_and_interval():
    new_world()
    air = make(AIR)
    assert (air.name, air.kind, air.interval_ms) == ("air", "dht22", 10000)
    assert air.quantities == (("temperature", "C"), ("humidity", "%"))
    assert make(OUTSIDE).quantities == (("temperature", "C"), ("humidity", "%"), ("pressure", "hPa"))
    assert make(SOIL).quantities == (("soil_moisture", "%"),)
    assert make(CHIP).quantities == (("temperature", "C"),) and make(CHIP).interval_ms == 10000
    assert make({"name": "fast", "kind": "chip_temperature", "interval": 2.5}).interval_ms == 2500


def test_an_unknown_kind_or_a_bad_interval_is_a_config_error():
    new_world()
    e = bad_spec({"name": "x", "kind": "dht33", "pin": 4}, "'x'", "'dht33'", "dht22", "bme280")
    assert "chip_temperature" in e.message
    bad_spec({"name": "x", "pin": 4}, "None")
    bad_spec("dht22", "'dht22'")
    bad_spec({"name": "x", "kind": "dht22", "pin": 4, "interval": 0}, "'interval'", "> 0")
    bad_spec({"name": "x", "kind": "dht22", "pin": 4, "interval": "10"}, "'interval'", "a number")


def test_a_missing_or_impossible_pin_is_a_config_error():
    new_world()
    for kind in ("dht11", "dht22", "ds18b20", "analog"):
        bad_spec({"name": "x", "kind": kind}, "'x'", "'pin'", "GPIO")
        bad_spec({"name": "x", "kind": kind, "pin": "13"}, "'pin'", "'13'")
    bad_spec({"name": "x", "kind": "dht22", "pin": 40}, "'pin' is 40", "not a GPIO")


# ---- chip temperature


def test_chip_temperature_converts_the_esp32s_fahrenheit_reading():
    world = new_world()
    world.set("temperature", 25.0)  # the die runs 22 C warmer: 47 C, 116.6 F
    assert esp32.raw_temperature() == 117
    assert reading(make(CHIP)) == {"temperature": (117 - 32) * 5 / 9}


def test_chip_temperature_prefers_mcu_temperature_where_the_chip_has_it():
    new_world()
    esp32.mcu_temperature = lambda: 43  # as on an ESP32-S3 or C3
    try:
        assert reading(make(CHIP)) == {"temperature": 43}
    finally:
        del esp32.mcu_temperature


# ---- DHT11 / DHT22


def test_dht22_reads_the_worlds_temperature_and_humidity_in_tenths():
    world = new_world()
    got = reading(make(AIR))
    assert abs(got["temperature"] - 21.3) < 1e-6
    assert abs(got["humidity"] - world.value("humidity")) <= 0.05 + 1e-6
    world.set("temperature", -4.26)
    assert abs(reading(make(AIR))["temperature"] + 4.3) < 1e-6


def test_dht11_reads_whole_degrees_and_percent():
    world = new_world()
    got = reading(make({"name": "shed", "kind": "dht11", "pin": 5}))
    assert got == {"temperature": 21, "humidity": int(math.floor(world.value("humidity") + 0.5))}


def test_a_silent_dht_is_missing_and_a_bad_frame_is_a_crc_error():
    world = new_world()
    air = make(AIR)
    world.fault({"sensor": "air", "missing": True})
    e = error("sensor_missing", air)
    assert "GPIO 4" in e.message and "wiring" in e.message
    world.fault({"sensor": "air", "missing": False, "crc": 1.0})
    error("sensor_crc", air)
    world.fault({"sensor": "air", "crc": 0})
    assert abs(reading(air)["temperature"] - 21.3) < 1e-6  # back as soon as the fault goes


def test_a_failing_sensor_leaves_the_others_reading():
    world = new_world()
    drivers = [make(s) for s in (AIR, SOIL, BENCH, OUTSIDE, CHIP)]
    world.fault({"sensor": "air", "missing": True})
    waits = [d.begin() for d in drivers]
    assert waits == [0, 0, 750, 10, 0]
    results = []
    for d in drivers:
        try:
            results.append(sorted(d.read()))
        except AppError as e:
            results.append(e.code)
    assert results == [
        "sensor_missing",
        ["soil_moisture"],
        ["temperature"],
        ["humidity", "pressure", "temperature"],
        ["temperature"],
    ]


# ---- analog


def test_analog_calibration_maps_millivolts_to_the_quantity():
    world = new_world()
    soil = make(SOIL)
    assert abs(reading(soil)["soil_moisture"] - 60.0) <= 0.1  # 1420 mV
    world.set("soil_moisture", 20.0)
    assert abs(reading(soil)["soil_moisture"] - 20.0) <= 0.1  # 1940 mV


def test_analog_without_calibration_reads_volts_at_the_given_attenuation():
    new_world()  # soil at 60 %: the probe puts 1.42 V on GPIO 34
    volts = make({"name": "v", "kind": "analog", "pin": 34})
    assert volts.quantities == (("voltage", "V"),)
    assert abs(reading(volts)["voltage"] - 1.42) <= 0.001
    low = make({"name": "v", "kind": "analog", "pin": 34, "atten": 0})  # full scale 0.95 V
    assert abs(reading(low)["voltage"] - 0.95) <= 0.001
    mid = make({"name": "v", "kind": "analog", "pin": 34, "atten": 2.5})  # full scale 1.25 V
    assert abs(reading(mid)["voltage"] - 1.25) <= 0.001


def test_analog_bad_specs_are_config_errors():
    new_world()
    base = {"name": "soil", "kind": "analog", "pin": 34}
    for key, value, words in (
        ("pin", 4, ("'pin' is 4", "ADC1", "32-39")),
        ("atten", 5, ("'atten' is 5", "0, 2.5, 6, 11")),
        ("atten", "11", ("'atten'",)),
        ("calibration", [[1000, 0], [1000, 100]], ("'calibration'", "[[mV, value], [mV, value]]")),
        ("calibration", [[2200, 0]], ("'calibration'",)),
        ("calibration", [["2200", 0], [900, 100]], ("'calibration'",)),
    ):
        spec = dict(base)
        spec[key] = value
        bad_spec(spec, "'soil'", *words)


# ---- DS18B20


def test_one_ds18b20_reports_temperature_after_its_conversion_time():
    world = new_world()
    bench = make(BENCH)
    assert bench.begin() == 750
    assert bench.read() == {"temperature": 21.3125}  # 1/16 C steps
    world.set("temperature", 19.0)
    assert reading(bench) == {"temperature": 19.0}


def test_ds18b20_never_reads_without_a_fresh_conversion():
    new_world()
    bench = make(BENCH)
    e = raises(AppError, bench.read)
    assert e.code == "sensor_failed" and "begin()" in e.message
    reading(bench)
    assert raises(AppError, bench.read).code == "sensor_failed"  # the conversion was used


def test_several_ds18b20_on_one_bus_each_give_a_reading():
    new_world()
    tank = make({"name": "tank", "kind": "ds18b20", "pin": 14, "roms": {rom_hex(1).upper(): "top"}})
    assert tank.quantities == (("temperature_top", "C"),)
    got = reading(tank)
    assert got == {
        "temperature_top": 21.3125,
        "temperature_" + rom_hex(2): 23.3125,
        "temperature_" + rom_hex(3): 18.3125,
    }
    assert sorted(tank.quantities) == sorted((q, "C") for q in got)
    plain = make({"name": "tank", "kind": "ds18b20", "pin": 14})
    assert sorted(reading(plain)) == sorted("temperature_" + rom_hex(s) for s in (1, 2, 3))


def test_ds18b20_faults_missing_crc_and_a_partly_failing_bus():
    world = new_world()
    bench = make(BENCH)
    world.fault({"sensor": "bench", "crc": 1.0})
    error("sensor_crc", bench)
    world.fault({"sensor": "bench", "crc": 0, "missing": True})
    e = error("sensor_missing", bench)
    assert "GPIO 13" in e.message
    tank = make({"name": "tank", "kind": "ds18b20", "pin": 14})
    world.fault({"sensor": "middle", "crc": 1.0})
    world.fault({"sensor": "bottom", "missing": True})
    assert reading(tank) == {"temperature_" + rom_hex(1): 21.3125}  # what answered is kept
    world.fault({"sensor": "top", "crc": 1.0})
    error("sensor_crc", tank)


def test_ds18b20_bad_roms_are_config_errors():
    new_world()
    for roms in ({"28ff": "x"}, {rom_hex(1): ""}, {"zz" + rom_hex(1)[2:]: "x"}, ["28ff"], {rom_hex(1): 3}):
        bad_spec({"name": "tank", "kind": "ds18b20", "pin": 14, "roms": roms}, "'tank'", "'roms'", "16 hex")


# ---- BME280


def test_bme280_compensates_to_the_worlds_temperature_humidity_and_pressure():
    world = new_world()
    outside = make(OUTSIDE)
    for t in (21.3, -12.5, 38.0):
        world.set("temperature", t)
        assert outside.begin() == 10
        got = outside.read()
        assert abs(got["temperature"] - t) <= 0.01, got
        assert abs(got["humidity"] - world.value("humidity")) <= 0.01, got
        assert abs(got["pressure"] - world.value("pressure") / 100) <= 0.03, got


def test_bme280_reads_its_trimming_values_once():
    new_world()
    outside = make(OUTSIDE)
    reading(outside)
    reading(outside)
    device = simboard.board().world.sensor("outside").device
    assert [w for w in device.writes if w == b"\x88"] == [b"\x88"]
    assert device.measurements == 2  # one forced measurement per begin()


def test_bme280_missing_or_not_a_bme280():
    world = new_world()
    outside = make(OUTSIDE)
    world.fault({"sensor": "outside", "missing": True})
    e = error("sensor_missing", outside)
    assert "0x76" in e.message and "I2C 0" in e.message
    world.fault({"sensor": "outside", "missing": False})
    assert sorted(reading(outside)) == ["humidity", "pressure", "temperature"]
    error("sensor_missing", make({"name": "other", "kind": "bme280", "sda": 21, "scl": 22, "address": 0x77}))
    world.sensor("outside").device.regs[0xD0] = 0x58  # a BMP280 answers at 0x76
    e = error("sensor_failed", make(OUTSIDE))
    assert "0x58" in e.message and "BMP280" in e.message


def test_bme280_bad_specs_are_config_errors():
    new_world()
    for key, value, words in (
        ("sda", None, ("'sda'", "GPIO")),
        ("scl", "22", ("'scl'",)),
        ("address", 0x50, ("'address' is 80", "118, 119")),
        ("bus", 2, ("'bus' is 2", "0, 1")),
    ):
        spec = dict(OUTSIDE)
        spec[key] = value
        bad_spec(spec, "'outside'", *words)
