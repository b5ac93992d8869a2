"""playbach on a board: join WiFi, subscribe to the stream, play it on a buzzer or a MIDI synth.

Settings come from config.json (a copy of config.example.json). Any network fault ends in
silence and a reconnect with exponential backoff: the loop never dies. Between messages it
sleeps until the next note is due (in poll(), which a message cuts short, then the last part of
a millisecond in sleep_us), so notes start and end within tens of µs of their moment.
"""
import binascii
import json
import select
import time

import machine
import network
from umqtt.simple import MQTTClient

from playbach_outputs import MIDI_BAUDRATE, Buzzer, MidiOut
from playbach_player import LATE_MS, Player
from playbach_protocol import DEFAULT_PREFIX

LONGEST_US = 100000  # the loop looks up at least this often (keepalive pings)
WIFI_WAIT_MS = 15000
BACKOFF_MAX_S = 60


def load_config(path="config.json"):
    """The board's settings; see config.example.json."""
    with open(path) as file:
        return json.load(file)


def make_output(config):
    """The buzzer or MIDI synth that config.json names."""
    if config["output"] == "midi":
        midi = config["midi"]
        uart = machine.UART(midi["uart"], baudrate=MIDI_BAUDRATE, tx=machine.Pin(midi["tx"]))
        return MidiOut(uart, midi.get("channel", 1), midi.get("program"))
    buzzer = config["buzzer"]
    pwm = machine.PWM(machine.Pin(buzzer["pin"]), freq=440, duty_u16=0)
    return Buzzer(pwm, buzzer.get("voice", "soprano"))


def join_wifi(wifi):
    """Return the station interface once it is connected, retrying with backoff."""
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    delay = 1
    while not wlan.isconnected():
        if not wifi.get("power_save", False):
            try:  # a radio that naps between beacons holds messages up to ~100 ms
                wlan.config(pm=wlan.PM_NONE)
            except (AttributeError, ValueError, OSError) as error:  # older firmware
                print("wifi: cannot turn power saving off: %r" % error)
        wlan.connect(wifi["ssid"], wifi["password"])
        deadline = time.ticks_add(time.ticks_ms(), WIFI_WAIT_MS)
        while not wlan.isconnected() and time.ticks_diff(deadline, time.ticks_ms()) > 0:
            time.sleep_ms(100)
        if not wlan.isconnected():
            print("wifi: cannot join %r, retrying in %d s" % (wifi["ssid"], delay))
            wlan.disconnect()
            time.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)
    return wlan


def listen(client, player, wlan, keepalive):
    """Play what arrives until the connection fails (OSError)."""
    poller = select.poll()
    poller.register(client.sock, select.POLLIN)
    pinged = time.ticks_ms()
    while True:
        player.tick(time.ticks_us())
        if time.ticks_diff(time.ticks_ms(), pinged) >= keepalive * 500:
            if not wlan.isconnected():
                raise OSError("wifi lost")
            client.ping()
            pinged = time.ticks_ms()
        wait = player.wait(time.ticks_us(), LONGEST_US)
        if poller.poll(wait // 1000):
            client.check_msg()
        else:
            time.sleep_us(player.wait(time.ticks_us(), wait))


def close(client):
    """Free the old socket before the next connect: a board has only a few."""
    try:
        client.sock.close()
    except (AttributeError, OSError):
        pass


def main():
    config = load_config()
    broker = config["broker"]
    keepalive = broker.get("keepalive", 30)
    player = Player(make_output(config), config.get("prefix", DEFAULT_PREFIX),
                    config.get("stream", "events"), config.get("late_ms", LATE_MS))
    client_id = "playbach-" + binascii.hexlify(machine.unique_id()).decode()
    client = MQTTClient(client_id, broker["host"], broker.get("port", 1883),
                        broker.get("user"), broker.get("password"), keepalive)
    # The player takes the topic as it comes and never raises into the loop: a message it
    # cannot use is counted and printed.
    client.set_callback(lambda topic, payload: player.message(topic, payload, time.ticks_us()))
    delay = 1
    while True:
        try:
            wlan = join_wifi(config["wifi"])
            client.connect()
            for topic in player.topics():
                client.subscribe(topic)
            print("mqtt: connected to %s, playing %s" % (broker["host"], player.stream))
            delay = 1
            listen(client, player, wlan, keepalive)
        except Exception as error:  # umqtt fails with OSError, MQTTException or an assert
            print("mqtt: %r; reconnecting in %d s" % (error, delay))
        player.silence()
        close(client)
        time.sleep(delay)
        delay = min(delay * 2, BACKOFF_MAX_S)


if __name__ == "__main__":
    main()
