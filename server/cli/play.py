"""Play the live stream on this computer: into FluidSynth, to a MIDI port, into a .mid file.

Subscribes to every event (or to one voice with --voice) and plays each note at the moment the
server stamped on it (on this computer's clock, set from the stream itself), releasing it when
its time is up. Like the boards, it skips messages that arrive after their moment or twice,
ignores bad payloads with one line naming the topic and the reason, reports gaps in the
sequence ("missed 3 events (seq 41-43)"), rides out broker restarts (reconnecting with
backoff; notes still end on time while it is away), and silences every note on stop, pause
and exit (Ctrl-C, SIGTERM). Its timing loop runs at real-time priority where the system
allows it (root, or a real-time limit such as systemd's LimitRTPRIO).

examples:
  playbach play --synth                               through FluidSynth to the speakers
  playbach play --list-ports                          the MIDI ports mido can open
  playbach play --midi-port "USB MIDI"                play on a synth or MIDI interface
  playbach play --voice soprano --out soprano.mid     record one voice (saved every second)
  playbach play --voice bass --onset-log bass.txt     when each note started, to compare players
  PLAYBACH_BROKER_HOST=pi.local playbach play --out bach.mid
"""
import logging
import signal

import playbach_protocol as protocol
from playbach.cli import check_writable
from playbach.engine.synth import SynthError
from playbach.live import connection
from playbach.player import midi
from playbach.player.fluidsynth import FluidSynth
from playbach.player.listen import Listener, now_us, realtime
from playbach_outputs import MidiOut
from playbach_player import LATE_MS, Player

log = logging.getLogger("playbach.player")


def add_arguments(parser):
    connection.add_broker_arguments(parser, host="127.0.0.1")
    parser.add_argument("--voice", choices=protocol.VOICES + ("0", "1", "2", "3"),
                        help="play one voice instead of every event")
    parser.add_argument("--synth", action="store_true",
                        help="play through FluidSynth, started here with a General MIDI soundfont")
    parser.add_argument("--soundfont", metavar="SF2",
                        help="for --synth (default: $PLAYBACH_SOUNDFONT or the system's GM font)")
    parser.add_argument("--audio-driver", metavar="NAME",
                        help="FluidSynth's audio driver for --synth: alsa, pulseaudio, jack, "
                             "file ... (default: FluidSynth's)")
    parser.add_argument("--synth-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="more FluidSynth settings for --synth, e.g. audio.file.name=a.wav")
    parser.add_argument("--midi-port", metavar="NAME", help="MIDI output port to play on")
    parser.add_argument("--list-ports", action="store_true", help="list MIDI output ports")
    parser.add_argument("--out", metavar="FILE", help="record to this .mid file")
    parser.add_argument("--channel", type=int, default=1, choices=range(1, 17),
                        metavar="1-16", help="MIDI channel (default 1)")
    parser.add_argument("--program", type=int, choices=range(128), metavar="0-127",
                        help="MIDI program to select first (General MIDI, from 0)")
    parser.add_argument("--late-ms", type=int, default=LATE_MS, metavar="MS",
                        help="skip messages arriving this long after their moment "
                             "(default %(default)s)")
    parser.add_argument("--onset-log", metavar="FILE",
                        help="write a line as each event starts: its seq, at (Unix ms), the "
                             "moment it was due and the moment it started (µs on this "
                             "computer's monotonic clock)")


def run(args):
    try:
        if args.list_ports:
            print("\n".join(midi.port_names()) or "no MIDI output ports")
            return 0
        if not (args.synth or args.midi_port or args.out or args.onset_log):
            raise SystemExit("playbach play: give --synth, --midi-port NAME and/or --out FILE")
        for option in ("--out", "--onset-log"):
            if getattr(args, option[2:].replace("-", "_")):
                check_writable(args, option)
        client = connection.make_client(args, "play")  # checks the TLS files
        sinks = [midi.open_port(args.midi_port)] if args.midi_port else []
        if args.synth:
            sinks.append(FluidSynth(args.soundfont, args.audio_driver, args.synth_setting))
    except (midi.NoBackend, SynthError) as error:
        raise SystemExit("playbach play: %s" % error)
    recorder = midi.Recorder(args.out) if args.out else None
    if recorder:
        sinks.append(recorder)
    output = MidiOut(midi.Wire(sinks), args.channel, args.program)
    stream = args.voice or "events"
    if stream.isdigit():
        stream = protocol.VOICES[int(stream)]
    player = Player(output, args.prefix, stream, args.late_ms, log.warning)
    onsets = open(args.onset_log, "w", buffering=1) if args.onset_log else None
    if onsets:
        player.onset = lambda seq, at, due: onsets.write("%d %d %d %d\n" % (seq, at, due,
                                                                           now_us()))
    listener = Listener(player)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: listener.stop())
    connection.start(client, args, on_connect=listener.subscribe, on_message=listener.on_message)
    refused = realtime()  # the loop's thread only: paho's is started already
    if refused:
        log.info("playing at normal priority (real-time: %s): when this computer is busy, "
                 "notes may start a few ms late", refused)
    else:
        log.info("playing at real-time priority")
    try:
        listener.run(recorder.flush if recorder else None)
    finally:
        client.disconnect()
        client.loop_stop()
        if recorder:
            recorder.close()
        if onsets:
            onsets.close()
        for sink in sinks:
            if sink is not recorder:
                sink.close()
    log.info("played %(played)d, late %(late)d, repeated %(repeated)d, cancelled %(cancelled)d, "
             "malformed %(malformed)d, missed %(missed)d, failed %(failed)d" % player.counts)
    return 0
