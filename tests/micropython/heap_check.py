# The heap each board module takes once imported, in bytes: gc.mem_free() before and after.
# Run (README, "On an ESP32"): node tests/micropython/run.mjs
#   --file playbach_protocol.py=shared/playbach_protocol.py (and the other board modules)
#   tests/micropython/heap_check.py
import gc

total = 0
for name in ("playbach_protocol", "playbach_player", "playbach_outputs"):
    gc.collect()
    free = gc.mem_free()
    __import__(name)
    gc.collect()
    cost = free - gc.mem_free()
    total += cost
    print("%s %d" % (name, cost))
print("total %d" % total)
