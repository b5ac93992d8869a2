// The piano roll: notes as bars moving right to left past a line at "now", one colour per
// voice, each named; a dashed line where the stream skipped events, a thin one where a phrase
// ends and a strong one, named, where a piece ends or starts. Times are on the page's
// clock (performance.now(), ms), the moments the notes sound.

// Okabe and Ito's colours, told apart by colour-blind eyes too: bass, tenor, alto, soprano.
export const VOICE_COLOURS = ["#0072b2", "#009e73", "#d55e00", "#cc79a7"];
const VOICE_TEXT = ["#ffffff", "#000000", "#000000", "#000000"]; // names readable on each
const OTHER = "#8a8a8a"; // a note beyond the four voices (a five-note chord)
const PAST_MS = 8000; // shown left of the now line, at most,
const MS_PER_PIXEL = 10; // and at most this per pixel: a phone shows fewer notes, as wide
const AHEAD_MS = 600; // shown right of it: notes on their way
const LOWEST = 48; // C3: the roll shows at least C3-C5, more when the music goes further
const HIGHEST = 72;

export class Roll {
  constructor(canvas) {
    this.canvas = canvas;
    this.notes = []; // {note, name, voice (0-3, or -1), start, end}
    this.gaps = []; // {at, text}
    this.marks = []; // {kind ("phrase", "piece": its end; "new piece"), start, at, text}
  }

  add(note) {
    this.notes.push(note);
  }

  gap(at, text) {
    this.gaps.push({ at, text });
  }

  mark(mark) {
    this.marks.push(mark);
  }

  /** Forget the notes that were to start after `now`: they were cancelled. */
  cancel(now) {
    this.notes = this.notes.filter((n) => n.start <= now);
    this.marks = this.marks.filter((m) => m.start <= now);
  }

  draw(now) {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    const style = getComputedStyle(canvas);
    const colour = (name) => style.getPropertyValue(name).trim();

    const past = Math.min(PAST_MS, width * MS_PER_PIXEL);
    const first = now - past;
    this.notes = this.notes.filter((n) => n.end > first);
    this.gaps = this.gaps.filter((gap) => gap.at > first);
    this.marks = this.marks.filter((m) => m.at > first);
    let low = LOWEST;
    let high = HIGHEST;
    for (const n of this.notes) {
      low = Math.min(low, n.note);
      high = Math.max(high, n.note);
    }
    low -= 1;
    high += 1;
    const row = height / (high - low + 1);
    const x = (t) => ((t - first) / (past + AHEAD_MS)) * width;
    const y = (note) => (high - note) * row;

    g.fillStyle = colour("--roll-background");
    g.fillRect(0, 0, width, height);
    g.font = "11px system-ui, sans-serif";
    g.textBaseline = "middle";
    for (let note = Math.ceil(low / 12) * 12; note <= high; note += 12) {
      g.fillStyle = colour("--roll-grid");
      g.fillRect(0, y(note) + row - 1, width, 1);
      g.fillStyle = colour("--roll-text");
      g.fillText("C" + (note / 12 - 1), 4, y(note) + row / 2);
    }
    g.fillStyle = colour("--roll-now");
    g.fillRect(x(now), 0, 2, height);

    for (const m of this.marks) {
      g.fillStyle = colour(m.kind === "phrase" ? "--roll-phrase" : "--roll-piece");
      if (m.kind === "phrase") g.fillRect(x(m.at) - 1, 0, 1, height);
      else g.fillRect(x(m.at) - 2, 0, 3, height);
    }

    const bar = Math.max(3, row - 2);
    for (const n of this.notes) {
      const left = x(n.start);
      const length = Math.max(3, x(n.end) - left - 1);
      const top = y(n.note) + (row - bar) / 2;
      g.fillStyle = n.voice >= 0 ? VOICE_COLOURS[n.voice] : OTHER;
      g.fillRect(left, top, length, bar);
      if (g.measureText(n.name).width + 4 <= length) {
        g.fillStyle = n.voice >= 0 ? VOICE_TEXT[n.voice] : "#000000";
        g.fillText(n.name, left + 2, top + bar / 2);
      }
    }

    g.strokeStyle = colour("--roll-gap");
    g.fillStyle = colour("--roll-gap");
    g.setLineDash([4, 4]);
    g.textBaseline = "top";
    for (const gap of this.gaps) {
      g.beginPath();
      g.moveTo(x(gap.at) - 1, 0);
      g.lineTo(x(gap.at) - 1, height);
      g.stroke();
      g.fillText(gap.text, x(gap.at) + 2, 2);
    }
    g.setLineDash([]);

    // A piece's end named left of its line at the foot, a new piece right of its line at the
    // head: a short piece's two names do not meet.
    g.fillStyle = colour("--roll-piece");
    for (const m of this.marks.filter((m) => m.text)) {
      const end = m.kind === "piece";
      g.textAlign = end ? "right" : "left";
      g.textBaseline = end ? "bottom" : "top";
      g.fillText(m.text, x(m.at) + (end ? -5 : 4), end ? height - 2 : 2);
    }
    g.textAlign = "left";
  }
}
