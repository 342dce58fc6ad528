// One Pyodide for a whole pytest session, spoken to in JSON lines (tests/lite_harness.py is the other end).
//
//   node --experimental-wasm-stack-switching pyodide_host.mjs CONFIG_JSON
//
// CONFIG_JSON: {"mounts": {"/host/x": "/real/dir", ...}, "wheels": ["/host/x/a.whl", ...],
//               "path": ["/host/x/dir", ...], "env": {"NAME": "value"}}
// The host mounts each real directory (NODEFS), unzips each wheel into site-packages (what an offline
// micropip would do for a pure-Python wheel), puts "path" first on sys.path, sets os.environ, then prints
// {"ready": true, ...} and answers one request per line:
//   in:  {"id": 1, "code": "python source; top-level await allowed; the last expression is the answer"}
//   out: {"id": 1, "value": <the answer as JSON, or its repr>, "stdout": "...", "ms": 12.3}
//     or {"id": 1, "error": "traceback", "stdout": "...", "ms": ...}
// All requests share one namespace (like one main.py), so a test can define a function and call it later.
// stdout carries only these lines: Python's own output is captured into "stdout".
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const { loadPyodide } = await import(path.join(here, "node_modules", "pyodide", "pyodide.mjs"));
const config = JSON.parse(process.argv[2] || "{}");
const started = performance.now();

let captured = [];
const pyodide = await loadPyodide({
  indexURL: path.join(here, "node_modules", "pyodide") + path.sep,
  stdout: (line) => captured.push(line),
  stderr: (line) => captured.push(line),
});
const loadedMs = performance.now() - started;

for (const [target, source] of Object.entries(config.mounts || {})) {
  pyodide.FS.mkdirTree(target);
  pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: source }, target);
}

const setup = pyodide.runPython(`
import json, os, site, sys, zipfile

def _harness_setup(config):
    site_packages = site.getsitepackages()[0]
    for wheel in config.get("wheels", []):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site_packages)
    for entry in reversed(config.get("path", [])):
        sys.path.insert(0, entry)
    os.environ.update(config.get("env", {}))
    return json.dumps({"site_packages": site_packages, "python": sys.version.split()[0]})

_harness_setup
`);
const info = JSON.parse(setup(pyodide.toPy(config)));
setup.destroy();
const namespace = pyodide.globals.get("dict")();
const encode = pyodide.runPython(`
import json
def _harness_encode(value):
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return json.dumps(repr(value))
_harness_encode
`);

const send = (message) => process.stdout.write(JSON.stringify(message) + "\n");
send({ ready: true, pyodide: pyodide.version, load_ms: loadedMs, setup_ms: performance.now() - started - loadedMs,
       ...info });

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  const request = JSON.parse(line);
  captured = [];
  const begun = performance.now();
  try {
    const value = await pyodide.runPythonAsync(request.code, { globals: namespace });
    const text = encode(value);
    if (value && typeof value.destroy === "function") value.destroy();
    send({ id: request.id, value: JSON.parse(text), stdout: captured.join("\n"), ms: performance.now() - begun });
  } catch (error) {
    send({ id: request.id, error: String(error.message || error), stdout: captured.join("\n"),
           ms: performance.now() - begun });
  }
}
