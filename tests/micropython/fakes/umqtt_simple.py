"""A fake umqtt.simple for tests, placed on the board as umqtt/simple.py.

Each connect plays the next session of /mqtt_plan.json: ``{"messages": [[after_ms, topic,
payload_hex], ...], "drop_ms": N}`` (each message arrives through check_msg once its time has
come, then the broker goes away at drop_ms) or ``"refuse"``. When the plan is over, connect
ends the run with SystemExit. The client's ``sock`` is what select.poll watches: readable when a
message has come or the broker has gone."""
import binascii
import io
import json
import time

with open("/mqtt_plan.json") as file:
    PLAN = json.load(file)


class MQTTException(Exception):
    pass


class Socket(io.IOBase):
    def __init__(self, client):
        self.client = client

    def ioctl(self, request, flags):
        if request == 3:  # MP_STREAM_POLL
            return flags & 1 if self.client.ready() else 0  # POLLIN
        return 0

    def close(self):
        pass


class MQTTClient:
    def __init__(self, client_id, server, port=0, user=None, password=None, keepalive=0):
        print("MQTTClient %s %s:%d keepalive=%d" % (client_id, server, port, keepalive))
        self.sessions = list(PLAN)
        self.sock = None
        self.callback = None
        self.session = None
        self.start = 0

    def set_callback(self, callback):
        self.callback = callback

    def connect(self, clean_session=True):
        if not self.sessions:
            raise SystemExit
        self.session = self.sessions.pop(0)
        if self.session == "refuse":
            print("MQTT.connect refused")
            raise OSError(111)
        print("MQTT.connect")
        self.start = time.ticks_ms()
        self.sock = Socket(self)

    def ready(self):
        elapsed = time.ticks_diff(time.ticks_ms(), self.start)
        messages = self.session["messages"]
        return elapsed >= (messages[0][0] if messages else self.session["drop_ms"])

    def subscribe(self, topic, qos=0):
        print("MQTT.subscribe " + topic)

    def ping(self):
        print("MQTT.ping")

    def check_msg(self):
        elapsed = time.ticks_diff(time.ticks_ms(), self.start)
        messages = self.session["messages"]
        if messages and elapsed >= messages[0][0]:
            _, topic, payload = messages.pop(0)
            self.callback(topic.encode(), binascii.unhexlify(payload))
        elif not messages and elapsed >= self.session["drop_ms"]:
            raise OSError(-1)
