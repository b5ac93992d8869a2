// The server's clock, seen from this page: ServerClock of shared/playbach_player.py, line for
// line, so that the page sounds each note when the boards do. Each message says when it left
// the server (sent_us) and arrives a network delay later; the fastest messages show the offset
// between the clocks, as NTP's filter does. The clock keeps the fastest message of each 2 s
// over the last 64 s; the line under them (their lower convex hull, the edge below the
// window's middle) has the slope of the drift between the two crystals (clamped to 300 ppm);
// drawn with that slope under the fastest messages of the last 8 s, it gives the offset. A
// message 50 ms faster than the line, or messages 50 ms slower for 2 s on end, mean the
// server's clock stepped: the clock starts again from them (as after a silence of 64 s).
//
// Times are integer µs: the server's Unix µs, and the page's clock (performance.now() * 1000,
// rounded), which never wraps. Python's int() is Math.trunc here, its // Math.floor. The
// constants are the player's (a test runs both clocks on one stream and compares).

export const LATE_MS = 250; // a message arriving this long after its moment is skipped
export const AHEAD_US = 60000000; // an event sounds within 60 s of being sent, or it is refused
export const BUCKET_US = 2000000; // the clock keeps the fastest message of each 2 s...
export const BUCKETS = 32; // ...over the last 64 s, and measures the drift from them...
export const SPAN_US = 16000000; // ...once they span 16 s
export const RECENT = 4; // the offset is that of the last 8 s
export const MAX_DRIFT = 0.0003; // crystals are within 100 ppm: two differ by 200 ppm at most
export const STEP_US = 50000; // a message this much faster than the line, or slower...
export const RESYNC_US = 2000000; // ...for this long, means the server's clock stepped

export class ServerClock {
  constructor() {
    this.rate = 0; // drift: local µs per server µs, minus 1
    this.restart();
  }

  /** Forget the messages seen (the server started over); keep the drift. */
  restart() {
    this.points = []; // [local, server] of the fastest message of each bucket, oldest first
    this.start = 0; // local µs at which the newest bucket began
    this.line = null; // [local, server]: a point on the line
    this.offSince = null; // when messages began to fall far off the line
  }

  /** A message sent at `server` (Unix µs) arrived at `local` (µs). */
  add(server, local) {
    let points = this.points;
    const since = points.length ? server - points[points.length - 1][1] : 0;
    if (points.length && !(-STEP_US < since && since < BUCKETS * BUCKET_US)) {
      this.restart(); // a long silence or a step back
    } else if (this.line) {
      const off = this.above([local, server], this.line); // the line may be a minute back
      if (off < -STEP_US) this.restart();
      else if (off < STEP_US) this.offSince = null;
      else if (this.offSince === null) this.offSince = local;
      else if (local - this.offSince > RESYNC_US) this.restart();
    }
    points = this.points;
    if (!points.length || local - this.start >= BUCKET_US) {
      if (points.length === BUCKETS) points.shift();
      this.drift();
      points.push([local, server]);
      this.start = local;
    } else if (this.above([local, server], points[points.length - 1]) < 0) {
      points[points.length - 1] = [local, server];
    } else {
      return;
    }
    let line = points[points.length - 1]; // of the last 8 s: none from before a silence
    for (const point of points.slice(-RECENT)) {
      if (server - point[1] < RECENT * BUCKET_US && this.above(point, line) < 0) line = point;
    }
    this.line = line;
  }

  /** The local µs at which the server's clock shows `server` (Unix µs), as late as the
   *  fastest messages arrive; an Error for a moment over a minute from the last message's. */
  local(server) {
    const [local, base] = this.line;
    const delta = server - base;
    if (!(-AHEAD_US < delta && delta < AHEAD_US)) throw new Error(`a time ${delta} us from the server's clock`);
    return local + delta + Math.trunc(this.rate * delta);
  }

  /** How far `point` lies above the line of slope `rate` through `other`, in µs. */
  above(point, other) {
    const x = point[0] - other[0];
    return x - (point[1] - other[1]) - Math.trunc(this.rate * x);
  }

  /** Measure the drift from the buckets, once they span SPAN_US. */
  drift() {
    const points = this.points;
    if (points.length < 2 || points[points.length - 1][0] - points[0][0] < SPAN_US) return;
    const first = points[0];
    // [x, y]: local µs since the first message, and its delay less the first one's
    const xy = points.map(([local, server]) => {
      const x = local - first[0];
      return [x, x - (server - first[1])];
    });
    const hull = [];
    for (const p of xy) {
      while (hull.length > 1) {
        const [a, b] = hull.slice(-2);
        if ((b[0] - a[0]) * (p[1] - a[1]) > (b[1] - a[1]) * (p[0] - a[0])) break;
        hull.pop();
      }
      hull.push(p);
    }
    const middle = Math.floor(xy.reduce((sum, [x]) => sum + x, 0) / xy.length);
    for (let i = 0; i + 1 < hull.length; i++) {
      const [a, b] = [hull[i], hull[i + 1]];
      if (a[0] <= middle && middle <= b[0]) {
        this.rate = Math.max(-MAX_DRIFT, Math.min(MAX_DRIFT, (b[1] - a[1]) / (b[0] - a[0])));
      }
    }
  }
}
