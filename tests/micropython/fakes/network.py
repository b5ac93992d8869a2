"""A fake ``network`` for tests: the station joins at the first connect. Like the board's, every
``WLAN(STA_IF)`` is the same interface."""
STA_IF = 0


class WLAN:
    PM_NONE = 0
    joined = False

    def __init__(self, interface):
        pass

    def active(self, on=None):
        return True

    def config(self, **settings):
        print("WLAN.config " + " ".join("%s=%s" % item for item in sorted(settings.items())))

    def connect(self, ssid, password):
        print("WLAN.connect %s" % ssid)
        WLAN.joined = True

    def disconnect(self):
        WLAN.joined = False

    def isconnected(self):
        return WLAN.joined
