// Run a Python script under real MicroPython (the WebAssembly build from npm).
//
// Usage: node run.mjs [--file VFS_NAME=HOST_PATH ...] SCRIPT.py
//
// Each --file copies HOST_PATH into MicroPython's in-memory filesystem as
// /VFS_NAME (e.g. --file machine.py=fakes/machine.py), and "/" is on sys.path,
// so the script can import those modules. SCRIPT.py runs as __main__.
// Exit code: 0 on success, 1 on an uncaught exception (traceback on stderr),
// or the code given to sys.exit().
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const args = process.argv.slice(2);
const files = [];
while (args[0] === "--file") {
  const spec = args[1] ?? "";
  const eq = spec.indexOf("=");
  if (eq < 1) usage();
  files.push([spec.slice(0, eq), spec.slice(eq + 1)]);
  args.splice(0, 2);
}
if (args.length !== 1) usage();
const script = args[0];

// Pass MicroPython's output through byte for byte, flushing at each newline.
function lineWriter(stream) {
  let buf = [];
  const flush = () => { if (buf.length) stream.write(Buffer.from(buf)); buf = []; };
  return { flush, write: (bytes) => { buf.push(...bytes); if (bytes.includes(10)) flush(); } };
}
const out = lineWriter(process.stdout);
const err = lineWriter(process.stderr);

const mp = await loadMicroPython({ stdout: out.write, stderr: err.write, linebuffer: false });
for (const [name, hostPath] of files) {
  mp.FS.mkdirTree("/" + dirname(name));
  mp.FS.writeFile("/" + name, readFileSync(hostPath));
}

// JSON string literals are valid Python string literals.
const source = JSON.stringify(readFileSync(script, "utf8"));
let failure;
try {
  mp.runPython(
    `import sys\nif "/" not in sys.path: sys.path.insert(0, "/")\ndel sys\n` +
    `exec(compile(${source}, ${JSON.stringify(script)}, "exec"))`,
  );
} catch (e) {
  if (e.name !== "PythonError") throw e;
  failure = e;
}
out.flush();
err.flush();
if (failure) process.exitCode = exitCode(failure);

function exitCode(e) {
  if (e.type === "SystemExit") {
    const arg = e.message.trim().split("\n").pop().replace(/^SystemExit:? ?/, "");
    if (arg === "" || arg === "None") return 0;
    if (/^-?\d+$/.test(arg)) return Number(arg);
    process.stderr.write(arg + "\n");
    return 1;
  }
  // Drop the frame of the wrapper above; keep the script's own frames.
  process.stderr.write(e.message.replace(/^ {2}File "<stdin>".*\n/m, ""));
  return 1;
}

function usage() {
  console.error("usage: node run.mjs [--file VFS_NAME=HOST_PATH ...] SCRIPT.py");
  process.exit(2);
}
