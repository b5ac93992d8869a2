"""Piece after piece: ``playbach serve`` ends a piece where the model ends it or at the cap
(``--piece-events``), breathes, and plays the next after the next shipped primer; the status
says which piece plays and how far; ``playbach watch`` marks where a piece ends and the next
begins. Real mosquitto, the real TFLite interpreter on the shipped model (which ends no piece
before its third phrase, ``min_phrases``, so the caps here, of a few events, end its pieces)
and on the tiny model trained by the tests (whose form head ends pieces within a few events)."""
import io
import signal
import subprocess
import sys
import time

import playbach_protocol as protocol
from playbach.engine import primer as primers
from playbach.engine.composer import Composer, model_file
from playbach.live import wire
from playbach.live.ahead import Ahead, next_primer
from playbach.live.watch import Watcher
from playbach.model.card import SHIPPED_CARD
from test_serve import (PRIMER, SEED, TIMEOUT, Listener, broker_args, finish, ms,  # noqa: F401
                        prefix, serve)  # (a fixture)

CAP = 20  # events: a piece of the shipped model, which has not had three phrases by then
BREATH = 3  # beats: 300 ms at the tests' 600 bpm, more than the lead (200 ms)


def pieces_of(events):
    """``{piece: [its events]}``, in order."""
    pieces = {}
    for event in events:
        pieces.setdefault(event["piece"], []).append(event)
    return pieces


def test_serve_ends_a_piece_at_the_cap_and_plays_the_next_after_a_breath(
        mosquitto, prefix):  # noqa: F811
    listener = Listener(mosquitto.host, mosquitto.port, prefix)
    server = serve(SHIPPED_CARD, *broker_args(mosquitto, prefix), "--paused",
                   "--piece-events", CAP, "--breath", BREATH)
    try:
        watch = subprocess.run(
            [sys.executable, "-m", "playbach", "watch", "--host", mosquitto.host, "--port",
             str(mosquitto.port), "--prefix", prefix, "--play", "--count", str(2 * CAP + 5)],
            capture_output=True, text=True, timeout=TIMEOUT)
        listener.wait_for(lambda l: len(l.events()) >= 2 * CAP + 5, "two pieces and more")
    finally:
        stderr = finish(server, signal.SIGTERM)
        listener.close()
    assert server.returncode == 0 and watch.returncode == 0, stderr + watch.stderr
    assert "Traceback" not in stderr

    pieces = pieces_of(listener.events())
    assert list(pieces)[:3] == [1, CAP + 1, 2 * CAP + 1]
    first, second = pieces[1], pieces[CAP + 1]
    for piece in (first, second):
        assert [e["seq"] for e in piece] == list(range(piece[0]["seq"], piece[0]["seq"] + CAP))
        # The cap is the piece's end, the only one (phrases may end on the way)...
        assert [e.get("end") == "piece" for e in piece] == [False] * (CAP - 1) + [True]
        # ... and every note stops by it, the voices' too.
        end = piece[-1]["at"] + piece[-1]["ms"]
        assert all(e["at"] + max(e["holds_ms"], default=0) <= end + 1 for e in piece)
        moves = [m for m in listener.voices() if m["piece"] == piece[0]["piece"]]
        assert moves and all(m["at"] + m["ms"] <= end + 1 for m in moves if m["note"] is not None)
    # A breath of BREATH beats between the end of one piece and the next one's first onset.
    for before, after in ((first, second), (second, pieces[2 * CAP + 1])):
        assert abs(after[0]["at"] - (before[-1]["at"] + before[-1]["ms"]) - ms(BREATH)) <= 1
    assert f"the piece from seq 1 ended after {CAP} events (the cap)" in stderr

    # The status names each piece, its primer (the next shipped one each time), how far it has
    # come and the cap.
    statuses = [s for s in listener.statuses() if s["state"] == "playing"]
    names = {}
    for status in statuses:
        assert status["piece_cap"] == CAP
        names.setdefault(status["piece"], status["primer"])
    shipped = Composer(model_file(SHIPPED_CARD)).primers
    assert names[1] == "tokens" and names[CAP + 1] in shipped and names[2 * CAP + 1] in shipped
    assert names[2 * CAP + 1] != names[CAP + 1]
    progress = [s["piece_events"] for s in statuses if s["piece"] == CAP + 1]
    assert progress[:2] == [1, 16]

    # watch marks the end of each piece on the line of its last event, then the new piece.
    lines = watch.stdout.splitlines()
    ends = [line.split()[0] for line in lines if line.endswith("|| end of the piece")]
    assert ends == [str(CAP), str(2 * CAP)]
    for seq in (CAP + 1, 2 * CAP + 1):
        mark = lines.index("=== a new piece, from seq %d ===" % seq)
        assert lines[mark + 1].split()[0] == str(seq)
        assert [line for line in lines[:mark] if line.split()[0] == str(seq - 1)]


def test_a_piece_the_model_ends_ends_before_the_cap(tiny_model, mosquitto, prefix):  # noqa: F811
    """The tiny model's form head ends its pieces: the server ends the piece there, as the
    engine's own generation does, and plays the next."""
    composer = Composer(model_file(tiny_model), seed=SEED)
    composer.begin(primers.from_tokens(PRIMER))
    expected = [composer.generate()]
    while not expected[-1].piece_end and len(expected) < 256:
        expected.append(composer.generate())
    assert expected[-1].piece_end and len(expected) < 256

    listener = Listener(mosquitto.host, mosquitto.port, prefix)
    server = serve(tiny_model, *broker_args(mosquitto, prefix), "--piece-events", 256)
    try:
        listener.wait_for(lambda l: len(pieces_of(l.events())) >= 3, "a third piece")
    finally:
        stderr = finish(server, signal.SIGTERM)
        listener.close()
    assert server.returncode == 0, stderr
    first = pieces_of(listener.events())[1]
    assert [(tuple(e["notes"]), e["duration"], e["dynamic"]) for e in first] == \
        [g.event for g in expected]
    assert [e.get("end") for e in first] == \
        ["piece" if g.piece_end else "phrase" if g.phrase_end else None for g in expected]
    assert "the piece from seq 1 ended after %d events\n" % len(expected) in stderr
    second = [s for s in listener.statuses() if s["piece"] == len(expected) + 1]
    assert second[0]["piece_events"] == 1 and second[0]["primer"] in composer.primers


def test_the_next_piece_is_ready_at_once_and_a_new_setting_keeps_it():
    """The generating process ends a piece at the cap and primes the next at once; a setting
    changed once the last event of a piece has been taken applies to the next piece, which
    still begins there (the shipped model, three phrases short of an end: every piece ends at the
    cap)."""
    path = model_file(SHIPPED_CARD)
    first = primers.from_tokens(PRIMER)
    expected = Composer(path, seed=SEED)
    following = next_primer(expected.primers, first, SEED)
    third = next_primer(expected.primers, following, SEED)
    expected.begin(first)
    before = [expected.generate().event for _ in range(5)]
    expected.begin(following)
    expected.generator.temperature = 0.5
    after = [expected.generate().event for _ in range(5)]
    expected.begin(third)
    after += [expected.generate().event for _ in range(2)]

    ahead = Ahead(Composer(path, seed=SEED), first, piece_events=5).start()
    try:
        taken = [ahead.take(TIMEOUT) for _ in range(5)]
        ahead.rewind({"temperature": 0.5})
        taken += [ahead.take(TIMEOUT) for _ in range(7)]
    finally:
        ahead.close()
    assert [(r.timed.notes, r.timed.duration, r.timed.dynamic) for r in taken] == before + after
    assert [r.timed.piece_end for r in taken] == [False] * 4 + [True] + [False] * 4 + [True] + \
        [False] * 2
    assert [r.begins and r.begins.name for r in taken] == \
        [None] * 5 + [following.name] + [None] * 4 + [third.name, None]


def test_the_primers_come_in_an_order_drawn_from_the_seed():
    shipped = Composer(model_file(SHIPPED_CARD)).primers

    def order(seed):
        played, primer = [], primers.from_tokens(PRIMER)
        for _ in range(len(shipped) + 1):
            primer = next_primer(shipped, primer, seed)
            played.append(primer.name)
        return played

    played = order(3)
    assert sorted(played[:-1]) == sorted(shipped)  # each once, then again from the first
    assert played[-1] == played[0]
    assert played != order(4) and order(3) == played
    tokens = primers.from_tokens(PRIMER)
    assert next_primer({}, tokens, 3) is tokens  # none shipped: the same again


def test_watch_marks_phrase_ends_the_end_of_a_piece_and_the_next():
    out = io.StringIO()
    watcher = Watcher(out, "pb")
    at = 1_700_000_000_000

    def event(seq, piece, ms, **end):
        return "pb/events", wire.encode(protocol.EVENT, seq, [60], [400], "1", "mf", 150, at + ms,
                                        (at + ms - 200) * 1000, piece, **end), ms * 1000

    for message in (event(1, 1, 0, end="phrase"), event(2, 1, 400, end="piece")):
        watcher.message(*message)
    watcher.tick(10 ** 6)  # both have sounded when the next piece's first event comes
    for message in (event(3, 3, 1400), event(4, 3, 1800)):
        watcher.message(*message)
    watcher.tick(10 ** 7)
    watcher.close()
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["tempo", "1", "2", "===", "3", "4"]
    assert lines[1].endswith("  ;") and lines[2].endswith("  || end of the piece")
    assert lines[3] == "=== a new piece, from seq 3 ==="
    assert lines[4].endswith("|") and lines[5].endswith("|")


def test_pauses_across_piece_ends_keep_each_piece_whole(mosquitto, prefix):  # noqa: F811
    """Paused now and then, pieces of three events and their breaths: what a pause cancelled
    (the paused status says how much of the piece stands) comes again, in the piece it belonged
    to, so each piece sounds its three events, the last its end, and is named by its first
    event's seq."""
    listener = Listener(mosquitto.host, mosquitto.port, prefix)
    server = serve(SHIPPED_CARD, *broker_args(mosquitto, prefix), "--piece-events", 3,
                   "--breath", 2)
    control = protocol.control_topic(prefix)
    try:
        for wait in (0.25, 0.4, 0.15, 0.55, 0.3, 0.45, 0.2, 0.35):
            seen = len(listener.events())
            listener.wait_for(lambda l: len(l.events()) > seen + 1, "events")
            time.sleep(wait)
            listener.publish(control, "pause")
            listener.wait_for(lambda l: l.statuses()[-1]["state"] == "paused", "paused")
            listener.publish(control, "play")
        seen = len(listener.events())
        listener.wait_for(lambda l: len(l.events()) >= seen + 9, "three pieces more")
    finally:
        stderr = finish(server, signal.SIGTERM)
        listener.close()
    assert server.returncode == 0, stderr
    sounded, pauses = [], 0
    for topic, payload, _ in listener.messages:
        if topic == protocol.status_topic(prefix):
            status = protocol.decode(protocol.STATUS, payload)
            if status["state"] == "paused":  # the piece as it stands: the rest was cancelled
                pauses += 1
                piece, kept = status["piece"], status["piece_events"]
                sounded = [e for e in sounded if e["piece"] < piece] + \
                    [e for e in sounded if e["piece"] == piece][:kept]
        elif topic == protocol.events_topic(prefix):
            sounded.append(protocol.decode(protocol.EVENT, payload))
    whole = list(pieces_of(sounded).items())[:-1]  # the last may be cut short by the stop
    assert len(whole) >= 8 and pauses == 8
    for piece, events in whole:
        assert events[0]["seq"] == piece
        assert [e.get("end") == "piece" for e in events] == [False, False, True], (piece, events)


def test_a_new_piece_by_control_and_a_stop_play_on_in_pieces(mosquitto, prefix):  # noqa: F811
    """``primer NAME`` starts a piece after that primer now; the pieces after it follow it in
    the seed's order; ``stop`` then ``play`` starts the piece playing over, after its primer."""
    shipped = Composer(model_file(SHIPPED_CARD)).primers
    chosen = sorted(shipped)[3]
    listener = Listener(mosquitto.host, mosquitto.port, prefix)
    server = serve(SHIPPED_CARD, *broker_args(mosquitto, prefix), "--piece-events", 6,
                   "--breath", 2)
    control = protocol.control_topic(prefix)
    try:
        listener.wait_for(lambda l: len(l.events()) >= 3, "the first events")
        listener.publish(control, "primer " + chosen)
        listener.wait_for(lambda l: l.statuses()[-1]["primer"] == chosen, "the chosen primer")
        chosen_piece = listener.statuses()[-1]["piece"]
        listener.wait_for(lambda l: l.statuses()[-1]["piece"] > chosen_piece, "the piece after")
        after = listener.statuses()[-1]
        listener.publish(control, "stop")
        listener.wait_for(lambda l: l.statuses()[-1]["state"] == "stopped", "stopped")
        stopped = listener.statuses()[-1]
        listener.publish(control, "play")
        listener.wait_for(lambda l: l.events()[-1]["piece"] == stopped["piece"] and
                          len(pieces_of(l.events())[stopped["piece"]]) >= 2, "played again")
    finally:
        stderr = finish(server, signal.SIGTERM)
        listener.close()
    assert server.returncode == 0, stderr
    pieces = pieces_of(listener.events())
    assert len(pieces[chosen_piece]) == 6 and pieces[chosen_piece][-1]["end"] == "piece"
    assert after["piece"] == chosen_piece + 6
    assert after["primer"] == next_primer(shipped, shipped[chosen], SEED).name
    assert stopped["primer"] in (after["primer"], next_primer(shipped, shipped[after["primer"]],
                                                              SEED).name)
    assert stopped["piece_events"] == 0
