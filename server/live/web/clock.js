// The server's clock, seen from this page. Each message carries a time on the server's clock
// (Unix ms) and arrives after a network delay, so over a sliding window the smallest
// (arrival - server time) is the offset between the two clocks plus the fastest delay: the
// devices' baseline (device/esp32/player.py). Adding it to a server time gives the moment, on
// this page's clock, at which a message sent then arrives at best. A window, not all history:
// clocks drift, and a route that got slower for good is followed once the window forgets.

export const WINDOW_MS = 10000;

/**
 * Return observe(arrival, sent): from a message that arrived at `arrival` on this page's clock
 * and carries its server time `sent` (both ms), the offset (ms) to add to a server time: the
 * smallest arrival - sent over the arrivals of the last `windowMs`.
 */
export function offsetEstimator(windowMs = WINDOW_MS) {
  const kept = []; // [arrival, offset], offsets increasing: a smaller one makes older ones moot
  return function observe(arrival, sent) {
    const offset = arrival - sent;
    while (kept.length && kept[kept.length - 1][1] >= offset) kept.pop();
    kept.push([arrival, offset]);
    while (kept[0][0] < arrival - windowMs) kept.shift();
    return kept[0][1];
  };
}
