// playbach in a browser: subscribes to the stream over MQTT over WebSockets (MQTT.js, loaded
// before this as the global `mqtt`), draws the piano roll, plays the notes on the page's organ
// at their `at`, and publishes controls. What only the server knows (the broker's websockets
// address, the topic prefix, the controls and their ranges, the primers) comes from
// settings.json, served beside this file by `playbach serve`.
import { offsetEstimator } from "./clock.js";
import { Organ } from "./organ.js";
import { Roll } from "./roll.js";

const VOICES = ["bass", "tenor", "alto", "soprano"];
const NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
// Today the server publishes each event at its `at`: the page sounds it this much later, so
// that the network's jitter and the audio output's latency do not make it late. Once events
// are published ahead of their `at` (issue 14's lead), this goes to 0.
const PLAYOUT_MS = 150;
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
const FALLBACK = { prefix: "playbach", broker: { url: null, port: 9001 }, controls: {}, primers: [] };

const organ = new Organ();
const observeOffset = offsetEstimator();
const voiced = new Map(); // "seq:note" -> {voice, drawn}: an event and its voice messages meet here
const $ = (selector) => document.querySelector(selector);

// Exposed for tests and the curious: what the page received and what it asked the organ for.
const state = {
  settings: null,
  client: null,
  status: null,
  lastSeq: null,
  offset: null, // ms: add to a server time (Unix ms) for the page's clock (performance.now())
  playoutMs: PLAYOUT_MS,
  received: 0,
  ignored: 0,
  gaps: [], // "missed 3 events (seq 41-43)", one a gap
  // Each note given to the organ: its event's seq and `at`, the offset it was mapped with,
  // when it starts and ends (AudioContext s) and how late it came (ms, 0: in time).
  schedule: [],
  organ,
};
window.playbach = state;

let roll;
let topics;

function noteName(midi) {
  return NOTE_NAMES[midi % 12] + (Math.floor(midi / 12) - 1);
}

// --- payloads: checked before use; a bad one is counted and shown, never thrown further ---

function field(message, name, ok, expected) {
  if (!ok(message[name])) throw new Error(`bad field '${name}': ${JSON.stringify(message[name])}, expected ${expected}`);
  return message[name];
}
const integer = (low, high) => (v) => Number.isInteger(v) && v >= low && v <= high;
const MAX_MS = 2 ** 31;

const check = {
  event(m) {
    field(m, "seq", integer(0, Number.MAX_SAFE_INTEGER), "an integer >= 0");
    field(m, "notes", (v) => Array.isArray(v) && v.every(integer(0, 127)), "MIDI notes 0-127");
    field(m, "holds_ms", (v) => Array.isArray(v) && v.length === m.notes.length && v.every(integer(0, MAX_MS)), "one length in ms per note");
    field(m, "velocity", integer(0, 127), "0-127");
    field(m, "at", integer(0, Number.MAX_SAFE_INTEGER), "Unix ms");
    field(m, "sent_us", integer(0, Number.MAX_SAFE_INTEGER), "Unix µs");
    return m;
  },
  voice(m) {
    field(m, "seq", integer(0, Number.MAX_SAFE_INTEGER), "an integer >= 0");
    field(m, "voice", (v) => VOICES.includes(v), VOICES.join(" "));
    field(m, "note", (v) => v === null || integer(0, 127)(v), "null or 0-127");
    field(m, "velocity", integer(0, 127), "0-127");
    field(m, "ms", integer(0, MAX_MS), "ms");
    field(m, "at", integer(0, Number.MAX_SAFE_INTEGER), "Unix ms");
    return m;
  },
  status(m) {
    field(m, "state", (v) => typeof v === "string", "a state");
    return m;
  },
};

function onMessage(topic, payload) {
  const arrival = performance.now();
  try {
    const message = JSON.parse(new TextDecoder().decode(payload));
    if (typeof message !== "object" || message === null) throw new Error("not a JSON object");
    if (topic === topics.events) onEvent(check.event(message), arrival);
    else if (topic.startsWith(topics.voice)) onVoice(check.voice(message));
    else if (topic === topics.status) onStatus(check.status(message));
  } catch (error) {
    state.ignored += 1;
    const line = $("#ignored");
    line.hidden = false;
    line.textContent = `Ignored ${state.ignored} bad message${state.ignored > 1 ? "s" : ""} (last: ${topic}: ${error.message})`;
  }
}

// --- the stream ---

function onEvent(event, arrival) {
  if (!inSequence(event.seq)) return;
  state.received += 1;
  // The server's clock, from when each message left it (issue 14).
  state.offset = observeOffset(arrival, event.sent_us / 1000);
  const start = event.at + state.offset + PLAYOUT_MS;
  event.notes.forEach((note, i) => {
    const meeting = meet(event.seq, note);
    const end = start + event.holds_ms[i];
    meeting.drawn = { note, name: noteName(note), voice: meeting.voice, start, end };
    roll.add(meeting.drawn);
    if (chosenVoice() === "all") sound(event.seq, note, event.velocity, event.at, start, end);
  });
  listEvent(event);
}

function onVoice(message) {
  if (message.note === null) return; // a voice falling silent: its note ends on its own
  const voice = VOICES.indexOf(message.voice);
  const meeting = meet(message.seq, message.note);
  meeting.voice = voice;
  if (meeting.drawn) meeting.drawn.voice = voice;
  if (chosenVoice() === message.voice && state.offset !== null) {
    const start = message.at + state.offset + PLAYOUT_MS;
    sound(message.seq, message.note, message.velocity, message.at, start, start + message.ms);
  }
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

function sound(seq, note, velocity, at, start, end) {
  const heard = organ.play(note, velocity, start, end);
  if (!heard) return;
  state.schedule.push({ seq, note, at, offset: state.offset, ...heard });
  if (state.schedule.length > KEPT) state.schedule.splice(0, state.schedule.length - KEPT);
}

/** Whether to take event `seq`: not a repeat. Says so when events were missed. */
function inSequence(seq) {
  const last = state.lastSeq;
  if (last !== null && seq <= last && seq > last - REWIND) return false;
  if (last !== null && seq <= last - REWIND) {
    listLine("restart", `The server started over (seq ${seq} after ${last})`);
  } else if (last !== null && seq > last + 1) {
    const missed = seq - last - 1;
    const text = missed === 1 ? `missed 1 event (seq ${last + 1})` : `missed ${missed} events (seq ${last + 1}-${seq - 1})`;
    state.gaps.push(text);
    listLine("gap", text[0].toUpperCase() + text.slice(1));
    roll.gap(performance.now() + PLAYOUT_MS, text);
  }
  state.lastSeq = seq;
  return true;
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

function onStatus(status) {
  state.status = status;
  for (const cell of document.querySelectorAll("dd[data-field]")) {
    const value = status[cell.dataset.field];
    cell.textContent = value === undefined || value === null ? "–" : String(value);
  }
  for (const [command, name] of [["tempo", "bpm"], ["temperature", "temperature"], ["top_p", "top_p"], ["seed", "seed"]]) {
    const input = $(`#${command}`);
    if (input && status[name] !== undefined) input.placeholder = String(status[name]);
  }
  if (status.state !== "playing") organ.silence();
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
    if (organ.running) await organ.stop();
    else await organ.start();
    button.setAttribute("aria-pressed", String(organ.running));
  });
  $("#voice").addEventListener("change", () => organ.silence());
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
  const primers = $("#primer");
  for (const name of state.settings.primers) primers.append(new Option(name, name));
  setUpControls(state.settings.controls);
  setUpBrokerForm();
  setUpSound();
  connect();
  requestAnimationFrame(frame);
}

start();
