"""The Pi player's loop: paho hands messages to the player on its network thread; the caller's
thread sleeps until the next note is due, or a message comes, and plays it then, connected or
not. It sleeps until a millisecond before and spins the rest: a thread woken from sleep runs
some 0.3 ms late. A player's loop may run at real-time priority where the system allows it
(root, or a real-time limit such as systemd's LimitRTPRIO), so that other work on a busy
computer does not hold its notes up (``make bench``: ``choir``)."""
import os
import threading
import time

LONGEST_US = 100000  # the loop looks up at least this often (to stop, to save the recording)
SPIN_US = 1000  # the last stretch before a note, spent awake
REALTIME = 10  # the loop's real-time (FIFO) priority, when it asks for one


def now_us():
    """The local clock the player runs on: monotonic µs."""
    return time.monotonic_ns() // 1000


class Listener:
    """Feeds a :class:`playbach_player.Player` from paho and from the clock.

    Give :meth:`subscribe` and :meth:`on_message` to the connection (``playbach.live.
    connection.start``), then :meth:`run` until :meth:`stop`.
    """

    def __init__(self, player):
        self.player = player
        self.lock = threading.Lock()  # the player runs on paho's thread and the caller's
        self.woken = threading.Event()  # a message came, or stop: look at the schedule again
        self.stopped = False

    def subscribe(self, client):
        """After each (re)connection: subscribe to the player's topics."""
        for topic in self.player.topics():
            client.subscribe(topic)

    def on_message(self, client, userdata, message):
        """paho's callback. The player counts and logs what it cannot use; whatever else fails
        here is counted too, never raised into paho's network thread (it would die)."""
        with self.lock:
            try:
                self.player.message(message.topic, message.payload, now_us())
                self.player.tick(now_us())  # what is due already (no lead) sounds now
            except Exception as error:  # e.g. paho's message.topic on a topic not UTF-8
                self.player.failed("a message", error)
        self.woken.set()

    def stop(self):
        """Make :meth:`run` return (safe from a signal handler)."""
        self.stopped = True
        self.woken.set()

    def run(self, flush=None):
        """Start and release notes at their moments until :meth:`stop`, calling ``flush`` (if
        any) each time it wakes; then silence every note."""
        try:
            while not self.stopped:
                self.woken.clear()
                with self.lock:
                    self.player.tick(now_us())
                    if flush:
                        flush()
                    now = now_us()
                    wait = self.player.wait(now, LONGEST_US)
                if wait > SPIN_US:
                    self.woken.wait((wait - SPIN_US) / 1e6)
                else:
                    while now_us() - now < wait and not self.woken.is_set():
                        pass
        finally:
            with self.lock:
                self.player.silence()


def realtime():
    """Run the calling thread at real-time priority (FIFO), if the system allows it; return
    the reason it does not, or None."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME))
    except AttributeError:
        return "not on this system"
    except OSError as error:
        return error.strerror or str(error)
    return None
