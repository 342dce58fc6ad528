// Runs fetch() calls in a page of headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core;
// no browser is downloaded) and prints what the page saw, as one JSON line.
//
//   node browser_probe.mjs CONFIG_JSON
//   CONFIG_JSON: {"chromium": "/usr/bin/chromium", "profile": "/tmp/fresh-dir", "page": "http://127.0.0.1:PORT/",
//                 "calls": [{"method": "POST", "url": "...", "body": "{...}"}, ...]}
// Each call is sent as the Lite edition sends it (Content-Type: application/json); the answer is
// {"status": 200, "text": "...", "retryAfter": "1" | null} or {"error": "TypeError: Failed to fetch"}.
import { withPage } from "./chromium.mjs";

const config = JSON.parse(process.argv[2]);

await withPage(config, async (page) => {
  const results = [];
  for (const call of config.calls) {
    results.push(await page.evaluate(async ({ method, url, body }) => {
      try {
        const response = await fetch(url, { method, body, headers: { "Content-Type": "application/json" } });
        return { status: response.status, text: await response.text(), retryAfter: response.headers.get("Retry-After") };
      } catch (error) {
        return { error: `${error.name}: ${error.message}` };
      }
    }, call));
  }
  process.stdout.write(JSON.stringify({ origin: await page.evaluate(() => location.origin), results }) + "\n");
});
