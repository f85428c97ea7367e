"""The relay bank: boot states, levels, set/toggle/pulse, max-on, interlocks, link loss, saving."""

import simboard

from app.errors import AppError
from app.relays import Relays
from compat import ticks_add
from wsutil import raises

PUMP = {"name": "pump", "pin": 27, "active_low": True, "boot": "off", "max_on_s": 0}
LAMP = {"name": "lamp", "pin": 26}
# A valve pair of one interlock group: never both open
OPEN = {"name": "open", "pin": 16, "interlock": "valve", "dead_time_ms": 200}
SHUT = {"name": "shut", "pin": 17, "interlock": "valve", "dead_time_ms": 200}
VENT = {"name": "vent", "pin": 18, "interlock": "valve", "dead_time_ms": 50}


class World(simboard.QuietWorld):
    """Records every level the board drives, and the last one per GPIO."""

    def __init__(self):
        self.outputs = []
        self.level = {}

    def output_changed(self, pin, level):
        self.outputs.append((pin, level))
        self.level[pin] = level


def bank(specs, **kwargs):
    """A relay bank on a fresh simulated board; returns it and the board's world."""
    world = World()
    simboard.use(simboard.SimBoard(world=world))
    return Relays(specs, **kwargs), world


def drain(r):
    changes = r.changes
    r.changes = []
    return changes


def never_two_on(world, gpios):
    """Replays every level the board drove: at no moment were two of gpios on (active high)."""
    on = set()
    for gpio, level in world.outputs:
        if gpio in gpios:
            if level:
                on.add(gpio)
            else:
                on.discard(gpio)
            assert len(on) <= 1, world.outputs


class Saves:
    """The save callable: records each dict it is given."""

    def __init__(self):
        self.saved = []

    def __call__(self, state):
        self.saved.append(dict(state))


# ---- pins and boot


def test_pins_start_at_the_off_level_without_a_glitch():
    r, world = bank([PUMP, LAMP])
    assert world.outputs == [(27, 1), (26, 0)]  # active-low pump off = high, lamp off = low
    r.boot(0)
    assert world.outputs == [(27, 1), (26, 0)] and r.changes == []


def test_active_low_relays_are_on_at_level_0():
    r, world = bank([PUMP, LAMP])
    r.boot(0)
    assert r.set("pump", True, 10) == 0 and r.set("lamp", True, 10) == 0
    assert world.level == {27: 0, 26: 1}
    r.set("pump", False, 20)
    r.set("lamp", False, 20)
    assert world.level == {27: 1, 26: 0}
    assert drain(r) == [
        ("pump", True, "command"),
        ("lamp", True, "command"),
        ("pump", False, "command"),
        ("lamp", False, "command"),
    ]


def test_boot_states_on_off_and_restore():
    specs = [
        dict(LAMP, boot="on"),
        dict(PUMP, boot="off"),
        {"name": "heater", "pin": 25, "boot": "restore"},
        {"name": "fan", "pin": 23, "boot": "restore"},
        {"name": "door", "pin": 22, "boot": "restore"},
    ]
    r, world = bank(specs, saved={"heater": True, "fan": False, "pump": True})
    r.boot(0)
    assert world.level == {26: 1, 27: 1, 25: 1, 23: 0, 22: 0}  # door: not saved, so off
    assert drain(r) == [("lamp", True, "boot"), ("heater", True, "boot")]
    assert [x["on"] for x in r.all()] == [True, False, True, False, False]


def test_restore_without_saved_state_or_with_garbage_boots_off():
    for saved in (None, ["heater"], {"heater": "yes"}, {"heater": 1}):
        r, world = bank([{"name": "heater", "pin": 25, "boot": "restore"}], saved=saved)
        r.boot(0)
        assert world.level == {25: 0} and r.changes == []


# ---- set, toggle, get


def test_set_and_toggle_switch_and_report():
    r, world = bank([LAMP])
    r.boot(0)
    assert r.get("lamp") == {"name": "lamp", "on": False, "pending": None, "until": None}
    assert r.toggle("lamp", 5, "console") == 0
    assert world.level[26] == 1 and r.get("lamp")["on"] is True
    r.set("lamp", True, 6)  # already on: no change
    r.toggle("lamp", 7)
    assert world.level[26] == 0
    assert drain(r) == [("lamp", True, "console"), ("lamp", False, "command")]
    assert world.outputs == [(26, 0), (26, 1), (26, 0)]


def test_all_lists_every_relay_in_spec_order():
    r, _ = bank([PUMP, LAMP])
    r.boot(0)
    r.set("lamp", True, 1)
    assert r.all() == [
        {"name": "pump", "on": False, "pending": None, "until": None},
        {"name": "lamp", "on": True, "pending": None, "until": None},
    ]


# ---- bad input


def test_unknown_relay_names_the_known_ones():
    r, world = bank([PUMP, LAMP])
    r.boot(0)
    for call in (
        lambda: r.set("pmup", True, 1),
        lambda: r.toggle("pmup", 1),
        lambda: r.pulse("pmup", 100, 1),
        lambda: r.get("pmup"),
    ):
        e = raises(AppError, call)
        assert e.code == "unknown_relay"
        assert "'pmup'" in e.message and "pump, lamp" in e.message
    e = raises(AppError, Relays([]).get, "pump")
    assert e.code == "unknown_relay" and "none are configured" in e.message
    assert world.outputs == [(27, 1), (26, 0)]


def test_bad_pulse_lengths_and_on_values_are_refused_and_change_nothing():
    r, world = bank([LAMP])
    r.boot(0)
    for ms in (0, -5, 1.5, True, "100", None, 86400001):
        e = raises(AppError, r.pulse, "lamp", ms, 1)
        assert e.code == "bad_params" and repr(ms) in e.message and "1 to 86400000" in e.message
    for on in (1, "on", None):
        e = raises(AppError, r.set, "lamp", on, 1)
        assert e.code == "bad_params" and "true or false" in e.message
    assert world.outputs == [(26, 0)] and r.changes == []
    assert r.pulse("lamp", 86400000, 2) == 0 and world.level[26] == 1


def test_bad_relay_specs_are_refused():
    cases = (
        ([dict(LAMP, boot="of")], "boot 'of'"),
        ([dict(LAMP, on_link_loss="keep")], "on_link_loss 'keep'"),
        ([LAMP, dict(PUMP, name="lamp")], "lamp is defined twice"),
    )
    for specs, text in cases:
        e = raises(AppError, bank, specs)
        assert e.code == "config_invalid" and text in e.message, e.message


# ---- pulse and max_on


def test_pulse_turns_an_off_relay_on_for_its_length():
    r, world = bank([LAMP])
    r.boot(0)
    r.link(0, True)
    assert r.pulse("lamp", 1500, 1000, "console") == 0
    assert world.level[26] == 1 and r.get("lamp")["until"] == 1500
    assert r.tick(2000) == 500 and r.get("lamp")["until"] == 500
    assert r.tick(2500) is None
    assert world.level[26] == 0
    assert drain(r) == [("lamp", True, "console"), ("lamp", False, "pulse_end")]


def test_pulse_on_a_relay_that_is_on_keeps_it_on_then_turns_it_off():
    r, world = bank([LAMP])
    r.boot(0)
    r.link(0, True)
    r.set("lamp", True, 0)
    r.pulse("lamp", 300, 1000)
    r.tick(1299)
    assert world.level[26] == 1
    r.pulse("lamp", 300, 1200)  # a new pulse restarts the count
    r.tick(1499)
    assert world.level[26] == 1
    r.tick(1500)
    assert world.outputs == [(26, 0), (26, 1), (26, 0)]
    assert drain(r)[-1] == ("lamp", False, "pulse_end")


def test_set_on_during_a_pulse_makes_it_a_plain_on():
    r, world = bank([LAMP])
    r.boot(0)
    r.link(0, True)
    r.pulse("lamp", 100, 0)
    r.set("lamp", True, 50)
    assert r.get("lamp")["until"] is None
    r.tick(10000)
    assert world.level[26] == 1


def test_max_on_switches_off_after_its_time_and_repeated_ons_do_not_extend_it():
    r, world = bank([dict(LAMP, max_on_s=2)])
    r.boot(0)
    r.link(0, True)
    r.set("lamp", True, 1000)
    assert r.get("lamp")["until"] == 2000
    r.set("lamp", True, 2500)
    assert r.tick(2999) == 1
    assert world.level[26] == 1
    assert r.tick(3000) is None
    assert world.level[26] == 0
    assert drain(r) == [("lamp", True, "command"), ("lamp", False, "max_on")]


def test_max_on_cuts_a_longer_pulse_and_applies_to_boot_on():
    r, world = bank([dict(LAMP, max_on_s=1, boot="on", on_link_loss="hold")])
    r.boot(0)
    assert r.get("lamp")["until"] == 1000
    r.tick(1000)
    r.pulse("lamp", 5000, 2000)
    assert r.get("lamp")["until"] == 1000
    r.tick(3000)
    assert world.level[26] == 0
    assert drain(r) == [
        ("lamp", True, "boot"),
        ("lamp", False, "max_on"),
        ("lamp", True, "command"),
        ("lamp", False, "max_on"),
    ]


def test_a_late_tick_applies_what_is_overdue():
    r, world = bank([LAMP])
    r.boot(0)
    r.link(0, True)
    r.pulse("lamp", 100, 0)
    assert r.get("lamp", 250)["until"] == 0
    r.tick(250)
    assert world.level[26] == 0


def test_timers_survive_the_wrap_of_ticks_ms():
    r, world = bank([dict(LAMP, max_on_s=1), OPEN, SHUT])
    start = ticks_add(0, -1) - 99  # ticks_ms wraps there (2**30 on the ESP32, more on unix)
    r.boot(start - 1000)
    r.link(start - 1000, True)
    r.set("open", True, start - 500)
    r.pulse("lamp", 300, start)
    assert r.set("shut", True, start + 50) == 200
    assert r.tick(149) == 1 and world.level == {26: 1, 16: 0, 17: 0}
    assert r.tick(150) == 50 and world.level == {26: 1, 16: 0, 17: 1}
    r.tick(200)
    assert world.level[26] == 0 and drain(r)[-1] == ("lamp", False, "pulse_end")


# ---- interlock


def test_interlock_switches_the_other_off_at_once_and_waits_the_dead_time():
    r, world = bank([OPEN, SHUT])
    r.boot(0)
    r.link(0, True)
    assert r.set("open", True, 1000) == 0
    assert r.set("shut", True, 5000) == 200
    assert world.level == {16: 0, 17: 0}
    assert r.get("shut") == {"name": "shut", "on": False, "pending": True, "until": None}
    assert r.tick(5150) == 50
    assert world.level[17] == 0
    assert r.tick(5200) is None
    assert world.level == {16: 0, 17: 1} and r.get("shut")["pending"] is None
    assert drain(r) == [("open", True, "command"), ("open", False, "interlock"), ("shut", True, "command")]
    never_two_on(world, (16, 17))


def test_simultaneous_ons_in_a_group_leave_only_the_latest_on():
    r, world = bank([OPEN, SHUT])
    r.boot(0)
    r.link(0, True)
    assert r.set("open", True, 1000) == 0
    assert r.set("shut", True, 1000) == 200
    r.tick(1000)
    r.tick(1200)
    assert world.level == {16: 0, 17: 1}
    never_two_on(world, (16, 17))


def test_a_later_command_supersedes_a_pending_one():
    r, world = bank([OPEN, SHUT, VENT])
    r.boot(0)
    r.link(0, True)
    r.set("open", True, 1000)
    assert r.set("shut", True, 2000) == 200
    assert r.pulse("vent", 500, 2100) == 100  # the group waits its longest dead time
    assert r.get("shut")["pending"] is None and r.get("vent")["pending"] is True
    r.tick(2200)
    assert world.level == {16: 0, 17: 0, 18: 1}
    assert r.get("vent")["until"] == 500  # counted from when it really went on
    r.tick(2700)
    assert world.level[18] == 0
    assert drain(r) == [
        ("open", True, "command"),
        ("open", False, "interlock"),
        ("vent", True, "command"),
        ("vent", False, "pulse_end"),
    ]
    assert 17 not in [gpio for gpio, level in world.outputs if level]
    never_two_on(world, (16, 17, 18))


def test_off_or_toggle_cancels_a_pending_on_but_another_members_off_does_not():
    r, world = bank([OPEN, SHUT, VENT])
    r.boot(0)
    r.link(0, True)
    r.set("open", True, 1000)
    r.set("shut", True, 2000)
    r.set("vent", False, 2050)  # already off: shut stays pending
    assert r.get("shut")["pending"] is True
    assert r.toggle("shut", 2100) == 0
    assert r.get("shut")["pending"] is None
    assert r.set("open", True, 2150) == 50
    r.set("open", False, 2160)
    assert r.get("open")["pending"] is None
    assert r.tick(5000) is None
    assert world.level == {16: 0, 17: 0, 18: 0}
    assert drain(r) == [("open", True, "command"), ("open", False, "interlock")]


def test_dead_time_counts_from_when_the_last_member_went_off():
    r, world = bank([OPEN, SHUT])
    r.boot(0)
    r.link(0, True)
    r.set("open", True, 1000)
    r.set("open", False, 3000)
    assert r.set("shut", True, 3050) == 150
    assert r.set("open", True, 3100) == 100  # re-requesting is not a way round it
    r.tick(3200)
    assert world.level == {16: 1, 17: 0}


def test_boot_ons_in_a_group_wait_the_dead_time_and_the_last_wins():
    r, world = bank([dict(OPEN, boot="on", on_link_loss="hold"), dict(SHUT, boot="on", on_link_loss="hold")])
    r.boot(0)
    assert world.level == {16: 0, 17: 0} and r.tick(0) == 200
    r.tick(200)
    assert world.level == {16: 0, 17: 1}
    assert drain(r) == [("shut", True, "boot")]


# ---- link loss


def test_link_loss_applies_each_policy_after_the_grace():
    specs = [
        dict(LAMP, on_link_loss="hold"),
        dict(PUMP, on_link_loss="off"),
        {"name": "siren", "pin": 25, "on_link_loss": "on"},
    ]
    r, world = bank(specs, grace_ms=3000)
    r.boot(0)
    r.link(100, True)
    r.set("lamp", True, 200)
    r.set("pump", True, 200)
    drain(r)
    r.link(1000, False)
    assert r.tick(3999) == 1
    assert world.level == {26: 1, 27: 0, 25: 0}
    r.tick(4000)
    assert world.level == {26: 1, 27: 1, 25: 1}
    assert drain(r) == [("pump", False, "failsafe"), ("siren", True, "failsafe")]


def test_link_back_within_the_grace_cancels_the_policy():
    r, world = bank([dict(PUMP, on_link_loss="off")], grace_ms=3000)
    r.boot(0)
    r.link(0, True)
    r.set("pump", True, 0)
    r.link(1000, False)
    r.link(2000, True)
    assert r.tick(9000) is None
    assert world.level[27] == 0


def test_the_policy_applies_once_and_repeated_downs_do_not_restart_the_grace():
    r, world = bank([dict(PUMP, on_link_loss="off")], grace_ms=3000)
    r.boot(0)
    r.link(0, True)
    r.set("pump", True, 0)
    r.link(1000, False)
    r.link(3000, False)
    r.tick(4000)
    assert world.level[27] == 1
    r.set("pump", True, 5000, "console")  # someone on site switches it on again
    r.link(6000, False)
    r.tick(20000)
    assert world.level[27] == 0
    assert drain(r)[-1] == ("pump", True, "console")


def test_a_board_that_never_connects_applies_the_policy_after_boot():
    r, world = bank([dict(PUMP, boot="on", on_link_loss="off")], grace_ms=10000)
    r.boot(0)
    assert world.level[27] == 0 and r.tick(1) == 9999
    r.tick(10000)
    assert world.level[27] == 1
    assert drain(r) == [("pump", True, "boot"), ("pump", False, "failsafe")]


def test_failsafe_on_goes_through_the_interlock():
    r, world = bank([dict(OPEN, on_link_loss="hold"), dict(SHUT, on_link_loss="on")], grace_ms=1000)
    r.boot(0)
    r.set("open", True, 500)
    assert r.tick(1000) == 200
    assert world.level == {16: 0, 17: 0}
    r.tick(1200)
    assert world.level == {16: 0, 17: 1}
    never_two_on(world, (16, 17))
    assert drain(r) == [("open", True, "command"), ("open", False, "interlock"), ("shut", True, "failsafe")]


# ---- saving


def restorable(name, pin):
    return {"name": name, "pin": pin, "boot": "restore", "on_link_loss": "hold"}


def test_saves_only_changes_and_only_restore_relays():
    saves = Saves()
    r, _ = bank([restorable("heater", 25), LAMP], save=saves, saved={"heater": False})
    r.boot(0)
    assert saves.saved == []  # booted as saved
    r.set("lamp", True, 10000)
    assert saves.saved == []  # lamp boots off, whatever it was
    r.set("heater", True, 20000)
    r.set("heater", True, 30000)
    r.tick(40000)
    assert saves.saved == [{"heater": True}]


def test_a_bank_without_restore_relays_never_saves():
    saves = Saves()
    r, _ = bank([LAMP, {"name": "fan", "pin": 27}], save=saves)
    r.boot(0)
    r.link(0, True)
    r.set("lamp", True, 10000)
    r.set("fan", True, 20000)
    r.tick(60000)
    assert saves.saved == [] and r.get("lamp")["on"] and r.get("fan")["on"]


def test_saves_at_most_once_per_interval_and_the_last_state_at_its_end():
    saves = Saves()
    r, _ = bank([restorable("heater", 25), restorable("fan", 23)], save=saves, save_interval_ms=5000)
    r.boot(0)
    assert saves.saved == [{"heater": False, "fan": False}]  # nothing saved yet: first state
    r.set("heater", True, 1000)
    r.set("fan", True, 2000)
    r.set("heater", False, 3000)
    assert saves.saved == [{"heater": False, "fan": False}]
    assert r.tick(4000) == 1000
    r.tick(5000)
    assert saves.saved[-1] == {"heater": False, "fan": True} and len(saves.saved) == 2
    r.set("fan", False, 6000)
    r.set("fan", True, 7000)  # back to what was saved before the interval ended
    assert r.tick(10000) is None and len(saves.saved) == 2


def test_pulses_do_not_write_the_flash():
    saves = Saves()
    r, _ = bank([restorable("bell", 25), restorable("heater", 23)], save=saves, saved={"bell": False})
    r.boot(0)
    saves.saved = []
    r.pulse("bell", 200, 10000)
    r.tick(10200)
    assert saves.saved == []
    r.set("heater", True, 20000)
    r.pulse("heater", 200, 30000)  # it ends off, so off is what is saved
    r.tick(30200)
    assert saves.saved == [{"bell": False, "heater": True}, {"bell": False, "heater": False}]


def test_a_pending_on_is_saved_as_on():
    saves = Saves()
    specs = [dict(OPEN, boot="restore"), dict(SHUT, boot="restore")]
    r, _ = bank(specs, save=saves, saved={"open": True, "shut": False})
    r.boot(0)
    r.tick(200)
    r.set("shut", True, 10000)
    assert saves.saved == [{"open": False, "shut": True}]


def test_a_failing_save_is_reported_and_retried():
    calls = []

    def save(state):
        calls.append(state)
        if len(calls) == 1:
            raise OSError(28, "ENOSPC")

    r, world = bank([restorable("heater", 25)], save=save, saved={"heater": False})
    r.boot(0)
    r.set("heater", True, 1000)  # the relay switches even though the flash is full
    assert world.level[25] == 1 and r.save_error.args[0] == 28
    assert r.tick(2000) == 4000
    r.tick(6000)
    assert calls == [{"heater": True}, {"heater": True}] and r.save_error is None


def test_configure_changes_max_on_and_link_loss_without_touching_outputs():
    r, world = bank([dict(LAMP, max_on_s=0, on_link_loss="hold")], grace_ms=100)
    r.boot(0)
    r.link(0, True)
    r.set("lamp", True, 10)
    drain(r)
    r.configure([dict(LAMP, max_on_s=1, on_link_loss="off")])
    assert drain(r) == [] and world.level[26] == 1
    r.tick(1011)  # the new max_on counts from when it went on
    assert drain(r) == [("lamp", False, "max_on")]
    r.configure([dict(LAMP, max_on_s=0, on_link_loss="on")])
    r.link(2000, False)
    r.tick(2101)
    assert drain(r) == [("lamp", True, "failsafe")]
