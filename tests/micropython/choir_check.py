# Runs the board's player as device/esp32/main.py's loop does, on a fake clock (µs ticks that
# wrap): it ticks when Player.wait says, and takes each message of /choir.json ({"messages":
# [[arrival ticks, topic, payload hex], ...], "end": ticks}, written by tests/test_device_esp32.py)
# at its arrival. Prints "ON ticks notes", "OFF ticks notes", "SILENCE ticks" as the output is
# played, then the counts.
import binascii
import json
import time

from playbach_player import Player

with open("/choir.json") as file:
    plan = json.load(file)
now = plan["messages"][0][0]


class Record:
    def play(self, notes, velocity):
        print("ON %d %s" % (now, " ".join(str(n) for n in notes)))

    def release(self, notes):
        if notes:
            print("OFF %d %s" % (now, " ".join(str(n) for n in notes)))

    def silence(self):
        print("SILENCE %d" % now)


player = Player(Record(), "playbach", plan.get("stream", "events"), 250, print)
for arrival, topic, payload in plan["messages"] + [[plan["end"], None, None]]:
    while True:
        player.tick(now)
        wait = player.wait(now, 100000)
        if time.ticks_diff(arrival, now) <= wait:
            break
        now = time.ticks_add(now, wait)
    now = arrival
    if topic:
        player.message(topic, binascii.unhexlify(payload), now)
print("COUNTS " + " ".join("%s=%d" % (k, player.counts[k]) for k in sorted(player.counts)))
