# Plays a plan (written by tests/test_device_esp32.py) through the ESP32 Player and outputs on
# the fake machine module: prints "@T" (ms) before each step, the fake's calls, logs and the
# counts. A step is a tick at T, or a message arriving at T, then a tick (as main.py's loop).
import binascii
import json

import machine
from playbach_outputs import Buzzer, MidiOut
from playbach_player import Player

with open("/plan.json") as file:
    plan = json.load(file)
if plan["output"] == "midi":
    uart = machine.UART(2, baudrate=31250, tx=machine.Pin(17))
    output = MidiOut(uart, plan["channel"], plan["program"])
else:
    output = Buzzer(machine.PWM(machine.Pin(25)), plan["voice"])
player = Player(output, "playbach", plan["stream"], 250, lambda line: print("LOG " + line))
for step in plan["steps"]:
    print("@%d" % step["t"])
    if "topic" in step:
        player.message(step["topic"], binascii.unhexlify(step["payload"]), step["t"] * 1000)
    player.tick(step["t"] * 1000)
print("COUNTS " + " ".join("%s=%d" % (k, player.counts[k]) for k in sorted(player.counts)))
