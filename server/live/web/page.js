// playbach in a browser: subscribes to the stream over MQTT over WebSockets (MQTT.js, loaded
// before this as the global `mqtt`), draws the piano roll, plays the notes on the page's organ
// at their `at` (put on the page's clock as the players put it on theirs), and publishes
// controls. What only the server knows (the broker's websockets address, the topic prefix, the
// controls and their ranges, the wire's payload tables, the primers) comes from settings.json,
// served beside this file by `playbach serve`.
import { AHEAD_US, LATE_MS, ServerClock } from "./clock.js";
import { Organ } from "./organ.js";
import { Roll } from "./roll.js";

const VOICES = ["bass", "tenor", "alto", "soprano"];
const NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
const REWIND = 100; // as the devices: a seq this far below the last one: the server started over
const EVENTS_SHOWN = 30;
const KEPT = 4000; // schedule entries, and notes waiting for their voice, kept for inspection
const STORAGE = "playbach.broker";
// The controls with a number that the page offers, in order; what each takes is the server's.
const FIELDS = [
  ["tempo", "Tempo (beats per minute)"],
  ["temperature", "Temperature"],
  ["top_p", "Top-p"],
  ["seed", "Seed (a new piece)"],
];
// The status fields shown, by name; a field the page does not know is shown under its own name
// (the status table says which there are). The events list shows the seq as it goes.
const LABELS = {
  state: "State", piece: "Piece", primer: "Piece after", bpm: "Tempo", temperature: "Temperature",
  top_k: "Top-k", top_p: "Top-p", seed: "Seed", lead_ms: "Lead (ms)", from_seq: "Settings from seq",
  invalid_controls: "Refused controls", model: "Model", piece_events: "Progress",
};
const UNSHOWN = ["seq", "piece_cap"];
// The status fields shown otherwise than as their value, each by a function of the status.
const SHOWN_AS = { piece_events: progress };
// What happened on this page, shown beside the status.
const COUNTS = { late: "Late, skipped", cancelled: "Notes cancelled" };
const FALLBACK = { prefix: "playbach", broker: { url: null, port: 9001 }, controls: {}, wire: null, primers: [] };

const organ = new Organ();
const clock = new ServerClock();
const voiced = new Map(); // "seq:note" -> {voice, drawn}: an event and its voice messages meet here
const $ = (selector) => document.querySelector(selector);

// Exposed for tests and the curious: what the page received and what it asked the organ for.
const state = {
  settings: null,
  client: null,
  status: null,
  lastSeq: null,
  piece: null,
  clock, // the server's clock on the page's (µs): ServerClock, as the players have it
  received: 0,
  ignored: 0,
  refusals: [], // why the last bad messages were ignored: "topic: reason"
  counts: { late: 0, cancelled: 0 }, // messages skipped as late; notes cancelled
  gaps: [], // "missed 3 events (seq 41-43)", one a gap
  // The roll's marks: where a piece starts ("new piece", at its first event's start) and where
  // a phrase or a piece ends (the event's `end`, at its end), on the page's clock (ms).
  marks: [],
  // Each note given to the organ: its event's seq and `at`, `due` (`at` on the page's clock,
  // ms), when it starts and ends (AudioContext s), how late it started (ms, 0: in time) and
  // whether it was cancelled before it started.
  schedule: [],
  /** How many notes are scheduled and not started yet. */
  pending: () => (organ.context ? state.schedule.filter((n) => !n.cancelled && n.start > organ.context.currentTime).length : 0),
  organ,
};
window.playbach = state;

let roll;
let topics;

function noteName(midi) {
  return NOTE_NAMES[midi % 12] + (Math.floor(midi / 12) - 1);
}

// --- payloads: checked by the wire's tables (settings.json), as the players check them; a bad
// one is counted and shown, never thrown further ---

const utf8 = new TextDecoder("utf-8", { fatal: true });
const shown = (value) => (value === undefined ? "null" : JSON.stringify(value).slice(0, 40)); // as Python's %.40r

/** The message in `payload` (bytes) of table `what`, checked as shared/playbach_protocol.py
 *  checks it (its size, nesting, schema version, each field); an Error naming what is wrong. */
function decode(what, payload) {
  const wire = state.settings.wire;
  if (!wire) throw new Error("no payload tables: settings.json did not load (reload the page)");
  const { limits } = wire;
  if (payload.length > limits.payload) throw new Error(`bad ${what} payload: ${payload.length} bytes, more than ${limits.payload}`);
  let text;
  try {
    text = utf8.decode(payload);
  } catch (error) {
    throw new Error(`bad ${what} payload: not UTF-8 text`);
  }
  if ((text.match(/[{[]/g) || []).length > limits.brackets) throw new Error(`bad ${what} payload: over ${limits.brackets} brackets`);
  let message;
  try {
    message = JSON.parse(text);
  } catch (error) {
    throw new Error(`bad ${what} payload: not JSON: ${shown(text)}`);
  }
  if (typeof message !== "object" || message === null || Array.isArray(message)) throw new Error(`bad ${what} payload: expected a JSON object`);
  if (message.v !== state.settings.v) {
    throw new Error(`bad ${what} payload: schema version ${shown(message.v)}, expected ${state.settings.v} (update the server and the players together)`);
  }
  const fields = wire.tables[what];
  for (const field of fields.filter((f) => f.source !== "derived")) {
    if (field.name in message) check(what, field, message[field.name], message.notes, limits);
    else if (field.source === "sent") throw new Error(`bad ${what} payload: no field '${field.name}'`);
  }
  for (const field of fields.filter((f) => f.source === "derived")) check(what, field, message[field.name], message.notes, limits);
  return message;
}

/** `value` of `field`, if of its kind within its range; else an Error naming the field. */
function check(what, field, value, notes, limits) {
  const { kind, min, max } = field;
  const within = (v, integer) => typeof v === "number" && (!integer || Number.isInteger(v)) && (min === null || v >= min) && (max === null || v <= max);
  const range = min === null ? "" : ` ${min}-${max}`;
  let good;
  let expected;
  if (kind === "notes" || kind === "integer per note") {
    const size = kind === "notes" ? limits.notes : notes.length;
    good = Array.isArray(value) && (kind === "notes" ? value.length <= size : value.length === size) && value.every((v) => within(v, true));
    expected = `${kind === "notes" ? "up to " : ""}${size} integers ${min}-${max}`;
  } else if (kind === "one of") {
    good = field.values.includes(value);
    expected = `one of ${field.values.map(String).join(" ")}`;
  } else if (kind === "text") {
    good = typeof value === "string" && value !== "";
    expected = "text";
  } else if (kind === "integer" || kind === "number" || kind === "integer or null") {
    good = within(value, kind !== "number") || (kind === "integer or null" && value === null);
    expected = (kind === "number" ? "a number" : "an integer") + range;
  } else {
    throw new Error(`bad ${what} field '${field.name}': of a kind this page does not know (${kind}): reload it`);
  }
  if (!good) throw new Error(`bad ${what} field '${field.name}': ${shown(value)}, expected ${expected}`);
}

/** `message` (an event or a voice), if it sounds within a minute of being sent. */
function timely(what, message) {
  if (!(Math.abs(message.at * 1000 - message.sent_us) < AHEAD_US)) {
    throw new Error(`bad ${what} field 'at': ${message.at}, over a minute from 'sent_us'`);
  }
  return message;
}

function onMessage(topic, payload) {
  const arrival = performance.now();
  try {
    if (topic === topics.events) onEvent(timely("event", decode("event", payload)), arrival);
    else if (topic.startsWith(topics.voice)) onVoice(timely("voice", decode("voice", payload)), arrival);
    else if (topic === topics.status) onStatus(decode("status", payload));
  } catch (error) {
    state.ignored += 1;
    state.refusals.push(`${topic}: ${error.message}`);
    if (state.refusals.length > EVENTS_SHOWN) state.refusals.shift();
    const line = $("#ignored");
    line.hidden = false;
    line.textContent = `Ignored ${state.ignored} bad message${state.ignored > 1 ? "s" : ""} (last: ${topic}: ${error.message})`;
  }
}

// --- the stream: each message put on the page's clock and played there, as the players do
// (shared/playbach_player.py, Player) ---

function onEvent(event, arrival) {
  const order = inSequence(event.seq);
  if (order.repeated) return;
  state.received += 1;
  if (order.restarted) clock.restart(); // a new server: a clock of its own
  if (!samePiece(event.piece, order.restarted, event.notes.length)) return;
  clock.add(event.sent_us, Math.round(arrival * 1000));
  const start = clock.local(event.at * 1000) / 1000; // on the page's clock, ms
  if (order.gap) roll.gap(start, order.gap);
  if (event.seq === event.piece) mark(event.seq, "new piece", start, start, `a new piece, from seq ${event.seq}`);
  if (event.end) mark(event.seq, event.end, start, start + event.ms, event.end === "piece" ? "end of the piece" : "");
  const late = arrival - start > LATE_MS;
  if (late) count("late");
  event.notes.forEach((note, i) => {
    const meeting = meet(event.seq, note);
    const end = start + event.holds_ms[i];
    meeting.drawn = { note, name: noteName(note), voice: meeting.voice, start, end };
    roll.add(meeting.drawn);
    if (!late && chosenVoice() === "all") sound(event.seq, note, event.velocity, event.at, start, end);
  });
  listEvent(event);
  showStatus(); // the piece's progress
}

/** A mark on the roll at `at` (ms), of an event starting at `start`, kept in state.marks. */
function mark(seq, kind, start, at, text) {
  const drawn = { seq, kind, start, at, text };
  roll.mark(drawn);
  state.marks.push(drawn);
  if (state.marks.length > KEPT) state.marks.shift();
}

function onVoice(message, arrival) {
  if (message.note === null) return; // a voice falling silent: its note ends on its own
  const voice = VOICES.indexOf(message.voice);
  const meeting = meet(message.seq, message.note);
  meeting.voice = voice;
  if (meeting.drawn) meeting.drawn.voice = voice;
  // Its event, on the events topic, came first and set the clock and the piece.
  if (chosenVoice() !== message.voice || !clock.line || message.piece !== state.piece) return;
  const start = clock.local(message.at * 1000) / 1000;
  if (arrival - start > LATE_MS) count("late");
  else sound(message.seq, message.note, message.velocity, message.at, start, start + message.ms);
}

/** The meeting place of an event's note and the voice message for it, whichever comes first. */
function meet(seq, note) {
  const key = `${seq}:${note}`;
  let meeting = voiced.get(key);
  if (!meeting) {
    meeting = { voice: -1, drawn: null };
    voiced.set(key, meeting);
    if (voiced.size > KEPT) voiced.delete(voiced.keys().next().value);
  }
  return meeting;
}

function sound(seq, note, velocity, at, due, end) {
  const heard = organ.play(note, velocity, due, end);
  if (!heard) return;
  state.schedule.push({ seq, note, at, due, ...heard, cancelled: false });
  if (state.schedule.length > KEPT) state.schedule.splice(0, state.schedule.length - KEPT);
}

/** Cancel every note scheduled and silence those sounding (pause, stop, a new piece, offline,
 *  the broker lost, another voice chosen), as the players do. */
function cancel() {
  if (organ.context) {
    const now = organ.context.currentTime;
    for (const note of state.schedule) {
      if (!note.cancelled && note.start > now) {
        note.cancelled = true;
        state.counts.cancelled += 1;
      }
    }
  }
  organ.silence();
  if (roll) roll.cancel(performance.now());
  count();
}

function count(what) {
  if (what) state.counts[what] += 1;
  for (const cell of document.querySelectorAll("dd[data-count]")) cell.textContent = String(state.counts[cell.dataset.count]);
}

/** Whether a message of `piece` is to be played: a new piece cancels what the one before
 *  scheduled; the piece before, heard after the new one, is dropped (its notes cancelled). */
function samePiece(piece, restarted, notes) {
  if (state.piece !== null && piece !== state.piece) {
    if (piece < state.piece && !restarted) {
      state.counts.cancelled += notes;
      count();
      return false;
    }
    cancel();
  }
  state.piece = piece;
  return true;
}

/** What event `seq` is: a repeat, the first of a server that started over, or after a gap
 *  (the text saying so); the gap is listed. */
function inSequence(seq) {
  const last = state.lastSeq;
  const restarted = last !== null && seq <= last - REWIND;
  if (last !== null && seq <= last && !restarted) return { repeated: true };
  let gap = null;
  if (restarted) {
    listLine("restart", `The server started over (seq ${seq} after ${last})`);
  } else if (last !== null && seq > last + 1) {
    const missed = seq - last - 1;
    gap = missed === 1 ? `missed 1 event (seq ${last + 1})` : `missed ${missed} events (seq ${last + 1}-${seq - 1})`;
    state.gaps.push(gap);
    listLine("gap", gap[0].toUpperCase() + gap.slice(1));
  }
  state.lastSeq = seq;
  return { restarted, gap };
}

function listEvent(event) {
  const item = document.createElement("li");
  item.dataset.seq = event.seq;
  const parts = [
    ["seq", String(event.seq)],
    ["notes", event.notes.length ? event.notes.map(noteName).join(" ") : "rest"],
    ["length", `${event.duration ?? ""} ${event.dynamic ?? ""}`.trim()],
  ];
  for (const [name, text] of parts) {
    const span = document.createElement("span");
    span.className = name;
    span.textContent = text;
    item.append(span, " ");
  }
  prepend(item);
}

function listLine(kind, text) {
  const item = document.createElement("li");
  item.className = kind;
  item.textContent = text;
  prepend(item);
}

function prepend(item) {
  const list = $("#events");
  list.prepend(item);
  while (list.children.length > EVENTS_SHOWN) list.lastElementChild.remove();
}

/** A row in the status for each field of the wire's status table, and for the page's counts. */
function setUpStatus(fields) {
  const list = $("#status");
  const row = (label, attribute, name) => {
    const cell = element("dd", { textContent: "–" });
    cell.dataset[attribute] = name;
    const item = element("div");
    item.append(element("dt", { textContent: label }), cell);
    list.append(item);
  };
  for (const { name } of fields) {
    const label = LABELS[name] || name[0].toUpperCase() + name.slice(1).replaceAll("_", " ");
    if (!UNSHOWN.includes(name)) row(label, "field", name);
  }
  for (const [name, label] of Object.entries(COUNTS)) row(label, "count", name);
  count();
}

function onStatus(status) {
  state.status = status;
  const piece = status.piece ?? null;
  if (status.state !== "playing" || (state.piece !== null && piece !== null && piece !== state.piece)) cancel();
  if (piece !== null) state.piece = piece;
  showStatus();
  for (const [command, name] of [["tempo", "bpm"], ["temperature", "temperature"], ["top_p", "top_p"], ["seed", "seed"]]) {
    const input = $(`#${command}`);
    if (input && status[name] !== undefined) input.placeholder = String(status[name]);
  }
}

/** The status in its rows: each field as its value, or as SHOWN_AS shows it. */
function showStatus() {
  const status = state.status;
  if (!status) return;
  for (const cell of document.querySelectorAll("dd[data-field]")) {
    const name = cell.dataset.field;
    const value = status[name];
    if (value === undefined || value === null) cell.textContent = "–";
    else cell.textContent = SHOWN_AS[name] ? SHOWN_AS[name](status) : String(value);
  }
}

/** How far the piece has come: the events of it the status counted and those of it received
 *  since (the server says it at the piece's start and every 16 events), of its cap (0: none). */
function progress(status) {
  const since = state.piece === status.piece && status.seq !== undefined && state.lastSeq > status.seq ? state.lastSeq - status.seq : 0;
  const events = status.piece_events + since;
  return status.piece_cap ? `${events} / ${status.piece_cap}` : String(events);
}

function chosenVoice() {
  return $("#voice").value;
}

// --- controls: checked here against the server's table, then published ---

function setUpControls(table) {
  for (const button of document.querySelectorAll("button[data-command]")) {
    const command = button.dataset.command;
    button.hidden = !(command in table);
    button.addEventListener("click", () => send({ cmd: command }));
  }
  for (const [command, label] of FIELDS) {
    if (table[command]) $("#fields").append(numberForm(command, label, table[command]));
  }
  for (const form of document.querySelectorAll("form[data-command]")) {
    const command = form.dataset.command;
    const spec = table[command];
    form.hidden = !(command in table);
    const input = form.querySelector("input");
    const label = form.querySelector("label").textContent;
    form.addEventListener("submit", (submitted) => {
      submitted.preventDefault();
      const control = { cmd: command };
      if (input) {
        const checked = argument(label, spec, input.value);
        if (checked.refused) return say(checked.refused, true);
        control[spec.argument] = checked.value;
      } else {
        const choice = form.querySelector("select").value;
        if (choice) control[spec.argument] = choice;
      }
      if (send(control) && input) input.value = "";
    });
  }
}

const element = (tag, properties) => Object.assign(document.createElement(tag), properties);

/** A labelled field for `command`, its range beside it, and its button. */
function numberForm(command, label, spec) {
  const form = element("form", { className: "row", noValidate: true });
  form.dataset.command = command;
  const input = element("input", {
    id: command, name: command, autocomplete: "off",
    inputMode: spec.kind === "integer" ? "numeric" : "decimal",
  });
  input.setAttribute("aria-describedby", `${command}-range`);
  form.append(
    element("label", { htmlFor: command, textContent: label }),
    input,
    element("span", { id: `${command}-range`, className: "hint", textContent: range(spec) }),
    element("button", { type: "submit", textContent: "Set" }),
  );
  return form;
}

function range(spec) {
  if (spec.min === null && spec.max === null) return "";
  if (spec.max === null) return `${spec.min} or more`;
  return `${spec.min}-${spec.max}`;
}

/** The value of `text` for a control's argument, or why it is refused: the server's checks. */
function argument(label, spec, text) {
  const given = text.trim();
  if (given === "") return { refused: `${label}: enter a number (${range(spec)})` };
  const value = Number(given);
  if (!Number.isFinite(value)) return { refused: `${label}: "${given}" is not a number` };
  if (spec.kind === "integer" && !Number.isInteger(value)) return { refused: `${label}: ${given} is not a whole number` };
  if ((spec.min !== null && value < spec.min) || (spec.max !== null && value > spec.max)) {
    return { refused: `${label}: ${given} is outside ${range(spec)}` };
  }
  return { value };
}

function send(control) {
  if (!state.client || !state.client.connected) {
    say("Not connected to the broker: nothing sent", true);
    return false;
  }
  state.client.publish(topics.control, JSON.stringify(control), { qos: 1 });
  say(`Sent: ${Object.values(control).join(" ")}`);
  return true;
}

function say(text, refused = false) {
  const message = $("#message");
  message.textContent = text;
  message.classList.toggle("refused", refused);
}

// --- the broker ---

function serverBroker() {
  const given = state.settings.broker;
  if (given.url) {
    const url = new URL(given.url);
    const tls = url.protocol === "wss:";
    return { host: url.hostname, port: Number(url.port) || (tls ? 443 : 80), tls, path: url.pathname, username: "", password: "" };
  }
  return { host: location.hostname, port: given.port, tls: location.protocol === "https:", path: "/mqtt", username: "", password: "" };
}

function storedBroker() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE)) || serverBroker();
  } catch (error) {
    return serverBroker();
  }
}

function brokerUrl(broker) {
  const host = broker.host.includes(":") ? `[${broker.host}]` : broker.host;
  return `${broker.tls ? "wss" : "ws"}://${host}:${broker.port}${broker.path || "/mqtt"}`;
}

function fillBrokerForm(broker) {
  const form = $("#broker");
  form.host.value = broker.host || "";
  form.port.value = broker.port || "";
  form.tls.checked = Boolean(broker.tls);
  form.username.value = broker.username || "";
  form.password.value = broker.password || "";
}

function setUpBrokerForm() {
  const form = $("#broker");
  form.addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    const port = Number(form.port.value.trim());
    if (!form.host.value.trim()) return say("Broker: give its address", true);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return say(`Broker: port "${form.port.value}" is not 1-65535`, true);
    const broker = {
      host: form.host.value.trim(), port, tls: form.tls.checked, path: storedBroker().path || "/mqtt",
      username: form.username.value, password: form.password.value,
    };
    localStorage.setItem(STORAGE, JSON.stringify(broker));
    say(`Broker: ${brokerUrl(broker)}, kept in this browser`);
    connect();
  });
  $("#broker-reset").addEventListener("click", () => {
    localStorage.removeItem(STORAGE);
    say("Broker: the server's, as it says");
    connect();
  });
}

function connection(text) {
  $("#connection").textContent = text;
}

function connect() {
  if (state.client) state.client.end(true);
  state.client = null;
  const broker = storedBroker();
  fillBrokerForm(broker);
  if (!broker.host || !broker.port) {
    connection("No broker to connect to: give its websockets address under Broker");
    $("#broker-details").open = true;
    return;
  }
  const url = brokerUrl(broker);
  const random = Math.floor(Math.random() * 0x10000).toString(16).padStart(4, "0");
  const client = mqtt.connect(url, {
    clientId: `${state.settings.prefix}-page-${random}`,
    username: broker.username || undefined,
    password: broker.password || undefined,
    protocolVersion: 4,
    reconnectPeriod: 1000,
    connectTimeout: 5000,
    resubscribe: false, // subscribed anew on each connect, below
  });
  let failure = null;
  connection(`Connecting to ${url}…`);
  client.on("connect", () => {
    failure = null;
    connection(`Connected to ${url}`);
    client.subscribe([topics.events, `${topics.voice}+`, topics.status], { qos: 0 });
  });
  client.on("error", (error) => {
    failure = error.message;
    connection(`${url}: ${failure}${/auth/i.test(failure) ? " (check the user and password under Broker)" : ""}`);
  });
  client.on("close", () => {
    cancel();
    if (!failure) connection(`Lost the broker at ${url}; reconnecting… (is its websockets listener on?)`);
  });
  client.on("message", onMessage);
  state.client = client;
}

// --- start ---

async function loadSettings() {
  try {
    const response = await fetch("settings.json", { cache: "no-cache" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return await response.json();
  } catch (error) {
    say(`No settings from the server (${error.message}): controls are off; give the broker under Broker`, true);
    return FALLBACK;
  }
}

function setUpSound() {
  const button = $("#sound");
  button.addEventListener("click", async () => {
    if (organ.running) {
      cancel();
      await organ.stop();
    }
    else await organ.start();
    button.setAttribute("aria-pressed", String(organ.running));
  });
  $("#voice").addEventListener("change", cancel);
}

function frame() {
  roll.draw(performance.now());
  requestAnimationFrame(frame);
}

async function start() {
  state.settings = await loadSettings();
  const prefix = state.settings.prefix;
  topics = {
    events: `${prefix}/events`, voice: `${prefix}/voice/`, status: `${prefix}/status`,
    control: `${prefix}/control`,
  };
  roll = new Roll($("#roll"));
  setUpStatus(state.settings.wire ? state.settings.wire.tables.status : []);
  const primers = $("#primer");
  for (const name of state.settings.primers) primers.append(new Option(name, name));
  setUpControls(state.settings.controls);
  setUpBrokerForm();
  setUpSound();
  connect();
  requestAnimationFrame(frame);
}

start();
