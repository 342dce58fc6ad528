// Debian's chromium, headless, through playwright-core (no browser is downloaded): one fresh profile per run.
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const { chromium } = await import(path.join(here, "node_modules", "playwright-core", "index.mjs"));

// Opens config.page in a new page of a fresh browser, awaits work(page), closes the browser.
export async function withPage(config, work) {
  const context = await chromium.launchPersistentContext(config.profile, {
    executablePath: config.chromium,
    headless: true,
    args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await context.newPage();
    await page.goto(config.page);
    return await work(page);
  } finally {
    await context.close();
  }
}
