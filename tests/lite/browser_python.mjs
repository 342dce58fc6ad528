// Runs Python in Pyodide inside a page of headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core), as xlwings Lite runs it in Excel's browser engine: the page's own origin, fetch() under
// the browser's rules (CORS, preflights, what a cut connection looks like). Prints one JSON line.
//
//   node browser_python.mjs CONFIG_JSON
//   CONFIG_JSON: {"chromium": "/usr/bin/chromium", "profile": "/tmp/fresh-dir", "page": "http://127.0.0.1:PORT/",
//                 "wheels": ["/wheels/a.whl", ...], "code": "python source; top-level await; last expression"}
// The page's server serves Pyodide under /pyodide/ and the wheels; each wheel is unzipped into site-packages
// (what an offline micropip does for a pure-Python wheel). The answer: {"value": ...} or {"error": "..."}.
import { withPage } from "./chromium.mjs";

const config = JSON.parse(process.argv[2]);

await withPage(config, async (page) => {
  const answer = await page.evaluate(async ({ wheels, code }) => {
    try {
      const { loadPyodide } = await import(location.origin + "/pyodide/pyodide.mjs");
      const pyodide = await loadPyodide({ indexURL: location.origin + "/pyodide/" });
      for (const wheel of wheels) {
        const data = new Uint8Array(await (await fetch(wheel)).arrayBuffer());
        pyodide.FS.writeFile("/tmp/" + wheel.split("/").pop(), data);
      }
      pyodide.runPython(`
import glob, site, zipfile
for wheel in glob.glob("/tmp/*.whl"):
    zipfile.ZipFile(wheel).extractall(site.getsitepackages()[0])
`);
      const value = await pyodide.runPythonAsync(code);
      const text = pyodide.globals.get("json").dumps(value);
      return { value: JSON.parse(text) };
    } catch (error) {
      return { error: String(error && error.message || error) };
    }
  }, { wheels: config.wheels, code: config.code });
  process.stdout.write(JSON.stringify({ origin: await page.evaluate(() => location.origin), ...answer }) + "\n");
});
