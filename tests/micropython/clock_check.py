# Feeds /clock.json ([[server us sent, local ticks arrived], ...], written by tests/test_choir.py)
# to playbach_player.ServerClock and prints, after each message, the local ticks at which the
# server's clock shows its sending plus 200 ms; then checks that every time it holds is an int.
import json

from playbach_player import ServerClock

with open("/clock.json") as file:
    plan = json.load(file)
clock = ServerClock()
for sent, arrived in plan:
    clock.add(sent, arrived)
    print(clock.local(sent + 200000))
for value in [clock.start] + clock.line + [time for point in clock.points for time in point]:
    assert isinstance(value, int), value
assert isinstance(clock.rate, float)
