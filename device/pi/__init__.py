"""The Pi player (``playbach play``): the boards' own player on a computer.

The logic it shares with the boards lives beside the wire module, in ``shared/``:
``playbach_player`` (what to play when) and ``playbach_outputs`` (``MidiOut``), so a Pi and a
board skip, count and silence alike. Here: ``midi`` turns the bytes ``MidiOut`` writes into mido
messages for a port and a recording, ``fluidsynth`` plays them, ``listen`` keeps the MQTT
connection.
"""
