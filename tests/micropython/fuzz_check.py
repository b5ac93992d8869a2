# Decodes each payload of /fuzz.json ([[table, payload hex], ...], written by
# tests/test_fuzz_wire.py) with playbach_protocol and prints one line each: "accepted",
# "ValueError", or "FAILED <exception>" for anything else a decoder let out.
import binascii
import json

import playbach_protocol as protocol

TABLES = {"event": protocol.EVENT, "voice": protocol.VOICE, "status": protocol.STATUS}

with open("/fuzz.json") as file:
    plan = json.load(file)
for table, payload in plan:
    try:
        protocol.decode(TABLES[table], binascii.unhexlify(payload))
        print("accepted")
    except ValueError:
        print("ValueError")
    except Exception as error:  # noqa: BLE001 - what the test is looking for
        print("FAILED %s: %s" % (type(error).__name__, error))
