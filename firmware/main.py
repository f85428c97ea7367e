"""Stand-in application until the device application lands: blink the LED, report a reading."""

import json
import time

import esp32
import machine


def _board():
    try:
        with open("board.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"name": "unknown board", "led": 2}


def chip_temperature():
    # Later chips have mcu_temperature() in C; the classic ESP32 only raw_temperature() in F.
    read = getattr(esp32, "mcu_temperature", None)
    if read is not None:
        return read()
    return (esp32.raw_temperature() - 32) * 5 // 9


def main(period_ms=1000):
    board = _board()
    led = machine.Pin(board.get("led", 2), machine.Pin.OUT)
    print("main.py: %s, reset cause %d" % (board.get("name"), machine.reset_cause()))
    n = 0
    while True:
        led.value(n & 1)
        if n % 2 == 0:
            print("reading %d: chip temperature %d C" % (n // 2, chip_temperature()))
        n += 1
        time.sleep_ms(period_ms // 2)


main()
