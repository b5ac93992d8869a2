"""The Pi player (``playbach play``): the ESP32's player logic and MIDI output on CPython.

``core`` and ``outputs`` are the very files the boards run (symlinks to device/esp32/), so a Pi
and a board skip, count and silence alike; ``midi`` turns their bytes into mido messages for a
port and a recording, and ``listen`` keeps the MQTT connection.
"""
