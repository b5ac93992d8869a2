// A small organ on Web Audio: one oscillator per note with a drawbar-like wave, started and
// stopped on the AudioContext's clock at moments given on the page's clock (performance.now()).
import { LATE_MS } from "./clock.js";

// Partials 1-8 of the wave (drawbars 8', 4', 2 2/3', 2' and a little 1'): a church-ish flue.
const PARTIALS = [0, 1, 0.55, 0.3, 0.22, 0, 0.08, 0, 0.06];
const ATTACK_S = 0.008; // an organ pipe speaks quickly: no click, no swell
const RELEASE_S = 0.03;
const LEVEL = 0.16; // per note at velocity 127: four voices and a doubled note stay below 1

export class Organ {
  constructor() {
    this.context = null;
    this.settled = false; // the output runs: its timestamps map the page's clock
    this.sounding = new Set(); // {oscillator, gain, end} not yet ended
  }

  /** Start the audio (inside a click: browsers allow sound only after one). */
  async start() {
    if (!this.context) {
      this.context = new AudioContext({ latencyHint: "playback" });
      const compressor = new DynamicsCompressorNode(this.context, { threshold: -12, ratio: 4 });
      compressor.connect(this.context.destination);
      this.output = compressor;
      const real = new Float32Array(PARTIALS.length);
      this.wave = new PeriodicWave(this.context, { real, imag: Float32Array.from(PARTIALS) });
    }
    this.settled = false;
    await this.context.resume();
    await this.settle();
    this.settled = true;
  }

  /** Wait (up to a second) until the output runs: until then the output timestamp's context
   *  time stands still while the page's clock goes on, and would map notes tens of ms off.
   *  Running, two timestamps of different buffers agree on the mapping. */
  async settle() {
    if (!this.context.getOutputTimestamp) return; // contextTime() estimates the latency then
    let previous = this.context.getOutputTimestamp();
    for (let tries = 0; tries < 100; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      const stamp = this.context.getOutputTimestamp();
      if (stamp.performanceTime - previous.performanceTime >= 5) {
        const moved = (stamp.contextTime - previous.contextTime) * 1000;
        if (Math.abs(moved - (stamp.performanceTime - previous.performanceTime)) < 1) return;
        previous = stamp;
      }
    }
  }

  async stop() {
    this.silence();
    if (this.context) await this.context.suspend();
  }

  get running() {
    return this.context !== null && this.context.state === "running" && this.settled;
  }

  /** The AudioContext time (s) heard at `ms` on the page's clock. getOutputTimestamp pairs
   *  the sample leaving the speakers with the page's clock, so the output latency is in it. */
  contextTime(ms) {
    const stamp = this.context.getOutputTimestamp ? this.context.getOutputTimestamp() : {};
    if (stamp.performanceTime > 0) return stamp.contextTime + (ms - stamp.performanceTime) / 1000;
    const latency = this.context.baseLatency + (this.context.outputLatency || 0);
    return this.context.currentTime - latency + (ms - performance.now()) / 1000;
  }

  /** Sound `note` (MIDI) at `velocity` (1-127) from `startMs` to `endMs` on the page's clock.
   *  Returns {start, end} in AudioContext seconds and `late`, the ms the start was moved to
   *  now by (up to LATE_MS); null if later than that (skipped) or if the audio is off. */
  play(note, velocity, startMs, endMs) {
    if (!this.running) return null;
    const context = this.context;
    const now = context.currentTime;
    const wanted = this.contextTime(startMs);
    const end = wanted + (endMs - startMs) / 1000;
    const late = Math.max(0, (now - wanted) * 1000);
    if (late > LATE_MS || end <= now) return null;
    const start = Math.max(wanted, now);
    const oscillator = new OscillatorNode(context, {
      frequency: 440 * 2 ** ((note - 69) / 12),
      periodicWave: this.wave,
    });
    const gain = new GainNode(context, { gain: 0 });
    const level = (LEVEL * velocity) / 127;
    gain.gain.setValueAtTime(0, start);
    gain.gain.linearRampToValueAtTime(level, start + ATTACK_S);
    gain.gain.setValueAtTime(level, Math.max(start + ATTACK_S, end));
    gain.gain.linearRampToValueAtTime(0, Math.max(start + ATTACK_S, end) + RELEASE_S);
    oscillator.connect(gain).connect(this.output);
    oscillator.start(start);
    oscillator.stop(Math.max(start + ATTACK_S, end) + RELEASE_S);
    const voice = { oscillator, gain, end };
    this.sounding.add(voice);
    oscillator.onended = () => {
      this.sounding.delete(voice);
      gain.disconnect();
    };
    return { start, end, late };
  }

  /** Stop every note now, sounding or scheduled (pause, stop, a new piece, offline). */
  silence() {
    if (!this.context) return;
    const now = this.context.currentTime;
    for (const { oscillator, gain } of this.sounding) {
      gain.gain.cancelScheduledValues(now);
      gain.gain.setTargetAtTime(0, now, RELEASE_S / 3);
      oscillator.stop(now + RELEASE_S); // before a scheduled start: it never sounds
    }
  }
}
