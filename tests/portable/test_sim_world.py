"""The simulated world: deterministic signals from a seed, loads that act back, faults, time, steps.

The world is read through the fakes (dht, ds18x20, I2C BME280, ADC, esp32, network, ntptime) as
firmware reads it. The same constants hold on CPython and on the MicroPython interpreter.
"""

import errno
import json
import os
import time

import dht
import ds18x20
import esp32
import machine
import network
import ntptime
import onewire
import simboard
import simworld
from machine import ADC, I2C, PWM, Pin

from wsutil import raises


class Clock:
    """A hand-driven board clock in milliseconds."""

    def __init__(self):
        self.ms = 0

    def __call__(self):
        return self.ms

    def advance(self, seconds, scale=1):
        self.ms += int(seconds * 1000 / scale)


SPEC = {
    "time": {"start": "06:00", "date": "2024-06-21"},
    "sensors": [
        {"kind": "dht22", "name": "air", "pin": 4, "noise": 0},
        {"kind": "soil_moisture", "name": "soil", "pin": 34, "noise": 0},
        {"kind": "ds18b20", "name": "probe", "pin": 13, "serial": 5, "noise": 0},
        {"kind": "bme280", "name": "outside", "noise": 0},
        {"kind": "light", "name": "sun", "pin": 35},
        {
            "kind": "digital",
            "name": "dry",
            "pin": 5,
            "quantity": "soil_moisture",
            "above": 30,
            "invert": True,
        },
    ],
    "loads": [
        {"kind": "heater", "name": "heater", "pin": 26},
        {"kind": "pump", "name": "pump", "pin": 27, "active_low": True, "rate": 1.0},
        {"kind": "light", "name": "lamp", "pin": 25, "lux": 8000},
    ],
    "access_points": [{"ssid": "greenhouse", "password": "tomatoes42", "rssi": -60, "jitter": 0}],
}


def new_world(spec=None, seed=7, steps=None, trace=None):
    clock = Clock()
    world = simworld.World(seed, SPEC if spec is None else spec, clock, steps, trace)
    simboard.use(simboard.SimBoard(world=world))
    return world, clock


def near(a, b, eps=1e-6):
    return abs(a - b) <= eps


# ---- deterministic signals


def test_noise_is_the_same_on_both_runtimes():
    assert simworld.hash32(1, 2, 3) == 487659013
    assert simworld.hash32(0, 0, 0) == 0 and simworld.hash32(0, 0, 1) != simworld.hash32(0, 1, 0)
    assert near(simworld.unit(7, 1, 0), 0.9888456864282489)
    assert near(simworld.smooth(7, 1, 1234.5, 1800.0), 0.9609729189145602)
    assert all(-1 <= simworld.smooth(3, 9, t * 97.0, 600.0) <= 1 for t in range(100))


def test_signals_are_deterministic_from_the_seed():
    world, clock = new_world()
    assert world.values() == WORLD_AT_0600
    clock.advance(3 * 3600)
    assert world.values() == WORLD_AT_0900
    again, clock2 = new_world()
    clock2.advance(3 * 3600)
    assert again.values() == WORLD_AT_0900
    other, clock3 = new_world(seed=8)
    clock3.advance(3 * 3600)
    assert other.values()["temperature"] != WORLD_AT_0900["temperature"]


# Seed 7, SPEC, 2024-06-21: computed once, the same on both runtimes.
WORLD_AT_0600 = {
    "temperature": 15.66,
    "humidity": 60.311,
    "pressure": 100775.8,
    "light": 0.0,
    "soil_moisture": 60.0,
}
WORLD_AT_0900 = {
    "temperature": 17.736,
    "humidity": 54.061,
    "pressure": 101112.372,
    "light": 10184.573,
    "soil_moisture": 55.104,
}


def test_the_day_has_a_cycle_of_temperature_and_light():
    world, clock = new_world({"time": {"start": "00:00"}})
    temps, lights = {}, {}
    for hour in range(24):
        temps[hour] = world.value("temperature")
        lights[hour] = world.value("light")
        clock.advance(3600)
    assert temps[16] > temps[5] + 4  # warmest in the afternoon, coldest before dawn
    assert lights[2] == 0 and lights[23] == 0 and lights[13] > 5000


def test_humidity_falls_as_the_air_warms():
    world, clock = new_world({"environment": {"humidity": {"weather": 0}}})
    cold = world.value("humidity")
    world.set("temperature", 30.0)
    assert world.value("humidity") < cold - 20


def test_pressure_drifts_slowly():
    world, clock = new_world()
    first = world.value("pressure")
    clock.advance(60)
    assert abs(world.value("pressure") - first) < 20
    seen = []
    for _ in range(48):
        clock.advance(3600)
        seen.append(world.value("pressure"))
    assert max(seen) - min(seen) > 200 and 100000 < min(seen) and max(seen) < 102700


# ---- loads act back


def test_a_heater_relay_warms_the_room():
    cold, clock = new_world()
    clock.advance(3600)
    unheated = cold.value("temperature")
    world, clock = new_world()
    heater = Pin(26, Pin.OUT)
    heater.on()
    assert world.state()["loads"]["heater"]["on"] is True
    clock.advance(1800)  # one time constant: about 63 % of the heater's 12 C
    half = world.value("temperature")
    clock.advance(1800)
    assert world.value("temperature") - unheated > 8 and half < world.value("temperature")
    heater.off()
    clock.advance(3 * 3600)
    assert world.value("temperature") < unheated + 3


def test_a_pump_on_an_active_low_relay_wets_the_soil():
    world, clock = new_world()
    pump = Pin(27, Pin.OUT, value=1)  # active low: high is off
    clock.advance(600)
    dried = world.value("soil_moisture")
    assert dried < 60
    pump.off()
    assert world.state()["loads"]["pump"]["on"] is True
    clock.advance(20)
    assert near(world.value("soil_moisture"), dried + 20, 0.1)
    clock.advance(3600)
    assert world.value("soil_moisture") == 100.0


def test_a_released_pin_leaves_its_relay_off():
    world, clock = new_world()
    Pin(27, Pin.OUT, value=0)
    assert world.state()["loads"]["pump"]["on"] is True
    raises(simboard.BoardReset, machine.reset)  # a hard reset releases every pin
    assert world.state()["loads"]["pump"]["on"] is False and world.pins[27] is None


def test_a_lamp_raises_the_light_and_pwm_dims_it():
    world, clock = new_world({"time": {"start": "04:00"}, "loads": SPEC["loads"]})  # no daylight
    assert world.value("light") == 0
    Pin(25, Pin.OUT).on()
    assert world.value("light") == 8000
    pwm = PWM(Pin(25), freq=1000, duty_u16=16384)
    assert world.value("light") == 2000
    pwm.deinit()
    assert world.value("light") == 8000  # the pin drives high again


def test_quantities_of_your_own_with_a_generic_load_and_an_analog_sensor():
    spec = {
        "quantities": {"water_level": 80, "co2": 400},
        "sensors": [{"kind": "analog", "pin": 32, "quantity": "water_level", "map": [[0, 0], [100, 2000]]}],
        "loads": [{"kind": "generic", "name": "drain", "pin": 23, "quantity": "water_level", "rate": -0.5}],
    }
    world, clock = new_world(spec)
    assert world.quantities[-2:] == ["co2", "water_level"] and world.values()["co2"] == 400
    adc = ADC(Pin(32), atten=ADC.ATTN_11DB)
    assert abs(adc.read_uv() - 1600000) <= 2000
    Pin(23, Pin.OUT).on()
    clock.advance(60)
    assert near(world.value("water_level"), 50.0) and abs(adc.read_uv() - 1000000) <= 2000


# ---- sensors through the fakes


def test_a_dht22_reads_the_air_and_its_faults():
    world, clock = new_world()
    sensor = dht.DHT22(4)
    sensor.measure()
    assert near(sensor.temperature(), 15.7, 0.01) and near(sensor.humidity(), 60.3, 0.01)
    world.fault({"sensor": "air", "missing": True})
    assert raises(OSError, sensor.measure).errno == errno.ETIMEDOUT
    world.fault({"sensor": "air", "missing": False, "crc": 1.0})
    assert raises(Exception, sensor.measure).args[0] == "checksum error"


def test_a_ds18b20_reads_the_air_and_can_vanish_or_fail_its_crc():
    world, clock = new_world()
    ds = ds18x20.DS18X20(onewire.OneWire(13))
    roms = ds.scan()
    assert len(roms) == 1 and roms[0][0] == 0x28
    world.set("temperature", 21.3)
    ds.convert_temp()
    assert ds.read_temp(roms[0]) == 21.3125  # 1/16 C steps
    world.fault({"sensor": "probe", "crc": 1.0})
    assert raises(Exception, ds.read_temp, roms[0]).args[0] == "CRC error"
    world.fault({"sensor": "probe", "crc": 0, "missing": True})
    assert ds.scan() == []


def test_crc_errors_are_drawn_per_read_with_their_probability():
    world, clock = new_world()
    world.fault({"sensor": "air", "crc": 0.25})
    sensor = dht.DHT22(4)
    fails = 0
    for _ in range(400):
        try:
            sensor.measure()
        except Exception:
            fails += 1
    assert 60 < fails < 140


def test_a_bme280_on_i2c_measures_the_world():
    world, clock = new_world()
    i2c = I2C(0)
    assert i2c.scan() == [0x76]
    world.set("temperature", 24.5)
    i2c.writeto_mem(0x76, 0xF2, b"\x01")
    i2c.writeto_mem(0x76, 0xF4, b"\x25")  # forced mode: one measurement
    dev = world.sensor("outside").device
    assert dev.measurements == 1 and near(dev.temperature, 24.5)
    assert near(dev.pressure, world.value("pressure")) and near(dev.humidity, world.value("humidity"))
    world.fault({"sensor": "outside", "missing": True})
    assert i2c.scan() == []
    raises(OSError, i2c.readfrom_mem, 0x76, 0xD0, 1)


def test_an_adc_reads_the_soil_probes_voltage():
    world, clock = new_world()
    adc = ADC(Pin(34), atten=ADC.ATTN_11DB)
    assert abs(adc.read_uv() - 1420000) <= 1000  # 60 %: 2200 - 0.6 * 1300 mV
    world.set("soil_moisture", 20.0)
    assert abs(adc.read_uv() - 1940000) <= 1000
    world.fault({"sensor": "soil", "missing": True})
    assert adc.read_uv() == 0


def test_a_digital_sensor_switches_at_its_threshold():
    world, clock = new_world()
    dry = Pin(5, Pin.IN)
    assert dry.value() == 0  # soil at 60 %, above 30: not dry (inverted)
    world.set("soil_moisture", 10.0)
    assert dry.value() == 1
    assert Pin(18, Pin.IN, Pin.PULL_UP).value() == 1  # nothing wired: the pull decides


def test_the_chip_runs_warmer_than_the_room():
    world, clock = new_world()
    world.set("temperature", 25.0)
    assert esp32.raw_temperature() == int(47 * 9 / 5 + 32 + 0.5)


def test_fault_windows_come_and_go_with_time():
    spec = {"sensors": [{"kind": "dht22", "pin": 4, "faults": [{"from": 10, "to": 20, "missing": True}]}]}
    world, clock = new_world(spec)
    sensor = dht.DHT22(4)
    sensor.measure()
    clock.advance(10)
    raises(OSError, sensor.measure)
    clock.advance(10)
    sensor.measure()


# ---- time


def test_time_scale_and_start_time():
    world, clock = new_world({"time": {"scale": 60, "start": "23:59:00", "date": "2024-06-21"}})
    assert world.state()["time"] == "23:59:00"
    clock.advance(90, scale=60)  # 1.5 real seconds
    assert near(world.now(), 90) and world.state()["time"] == "00:00:30"
    assert (
        ntptime.time() + (946684800 if time.gmtime(0)[0] == 2000 else 0) == 1719014430
    )  # 2024-06-22 00:00:30 UTC


def test_ntp_can_go_down():
    world, clock = new_world({"time": {"ntp": False}})
    assert raises(OSError, ntptime.time).errno == errno.ETIMEDOUT
    world.fault({"ntp": "up"})
    assert ntptime.time() > 0


# ---- scenario steps, Wi-Fi, state


def test_steps_are_applied_as_the_clock_passes_them():
    steps = [
        {"at": 5, "set": {"temperature": 30.0}},
        {"wait": 5},
        {"hold": {"soil_moisture": 12.5}},
        {"at": 20, "trace": {"light": [[0, 0], [10, 1000]]}},
        {"at": 40, "hold": {"soil_moisture": None}},
        {"expect": {"console": "ignored by the world"}, "within": 5},
    ]
    world, clock = new_world(steps=steps)
    clock.advance(4)
    assert world.value("temperature") < 20
    clock.advance(1)
    assert near(world.value("temperature"), 30.0)
    clock.advance(5)
    assert world.value("soil_moisture") == 12.5
    clock.advance(15)  # t=25: half way along the light trace
    assert near(world.value("light"), 500.0)
    clock.advance(10)
    assert world.value("light") == 1000.0 and world.value("soil_moisture") == 12.5
    clock.advance(600)  # released at t=40: the soil dries from where it was held
    assert 12 < world.value("soil_moisture") < 12.5


def test_wifi_faults_reach_the_radio():
    steps = [
        {"at": 10, "fault": {"wifi": "drop", "ssid": "greenhouse"}},
        {"at": 20, "fault": {"wifi": "restore"}},
    ]
    world, clock = new_world(steps=steps)
    sta = network.WLAN(network.STA_IF)
    sta.active(True)
    assert [ap[0] for ap in sta.scan()] == [b"greenhouse"] and sta.scan()[0][3] == -60
    sta.connect("greenhouse", "tomatoes42")
    assert sta.isconnected()
    clock.advance(10)
    assert not sta.isconnected() and sta.status() == network.STAT_NO_AP_FOUND  # retrying
    assert world.state()["wifi"]["dropped"] == ["greenhouse"]
    clock.advance(10)
    assert sta.isconnected()


def test_state_and_trace_lines_for_a_dashboard():
    lines = []
    world, clock = new_world(steps=[{"at": 1, "set": {"temperature": 25}}], trace=lines.append)
    world.attach(simboard.board())
    Pin(26, Pin.OUT).on()
    clock.advance(2)
    st = world.state()
    assert st["time"] == "06:00:02" and st["pins"] == {"26": 1} and st["loads"]["heater"]["power"] == 1.0
    assert set(st["values"]) == set(simworld.QUANTITIES) and st["faults"] == {}
    events = [json.loads(x[7:]) for x in lines]
    assert all(x.startswith("~world {") for x in lines)
    assert [e["ev"] for e in events[:2]] == ["start", "state"] and events[0]["loads"]["pump"] == 27
    assert {"t": 0.0, "ev": "load", "name": "heater", "on": True, "power": 1.0} in events
    assert {"t": 1.0, "ev": "step", "step": 1, "kind": "set"} in events


def _setenv(name, value):
    environ = getattr(os, "environ", None)
    if environ is not None:  # CPython: os.getenv reads os.environ
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    elif value is None:
        os.unsetenv(name)
    else:
        os.putenv(name, value)


def test_install_from_env_reads_sim_world_and_does_nothing_without_it():
    board = simboard.use(simboard.SimBoard())
    _setenv("SIM_WORLD", None)
    assert simworld.install_from_env(board) is None and type(board.world) is simboard.QuietWorld
    path = "/tmp/sim-world-%d.json" % (time.time_ns() // 1000)
    with open(path, "w") as f:
        f.write(json.dumps({"seed": 3, "world": {"sensors": [{"kind": "dht22", "pin": 4}]}, "steps": []}))
    try:
        _setenv("SIM_WORLD", path)
        world = simworld.install_from_env(board)
        assert board.world is world and world.seed == 3 and world.board is board
        assert world.sensors[0].name == "dht221"
    finally:
        _setenv("SIM_WORLD", None)
        os.remove(path)
