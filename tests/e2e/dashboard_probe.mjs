// Drives the local dashboard in headless Debian chromium through playwright-core (no browser download).
// usage: node dashboard_probe.mjs <url> <screenshot.png>
// Reads JSON lines on stdin: {"expect": {"<data-testid>": "<text>", ...}, "timeout_ms": 60000}. For each, waits
// (without reloading: the page refreshes itself) until every named element shows its text, then answers one JSON
// line {"ok": true|false, "snapshot": {...}} with what the page shows. Exits when stdin closes.
import { chromium } from "playwright-core";
import readline from "node:readline";

const [url, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
await page.goto(url);

async function snapshot() {
  return page.evaluate(() => {
    const texts = {};
    for (const el of document.querySelectorAll("[data-testid]")) texts[el.dataset.testid] = el.textContent.trim();
    const rows = (selector) => [...document.querySelectorAll(selector)].map((tr) => [...tr.cells].map((td) => td.textContent.trim()));
    return {
      loaded: document.body.dataset.loaded === "true",
      texts,
      funnel: rows("#funnel tr[data-stage]"),
      adoption: rows("#adoption tr[data-feature]"),
      campaigns: rows("#campaigns tr[data-campaign]"),
      variants: rows("#variants tr[data-variant]"),
      series: [...document.querySelectorAll("#minutes-chart polyline")].map((p) => p.dataset.series),
      options: [...document.querySelectorAll("#feature option")].map((o) => o.value),
    };
  });
}

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const { expect, timeout_ms } = JSON.parse(line);
  const deadline = Date.now() + (timeout_ms ?? 60000);
  let snap = await snapshot();
  const matches = (s) => s.loaded && Object.entries(expect).every(([id, text]) => s.texts[id] === text);
  while (!matches(snap) && Date.now() < deadline) {
    await page.waitForTimeout(250);
    snap = await snapshot();
  }
  await page.screenshot({ path: screenshot, fullPage: true });
  process.stdout.write(JSON.stringify({ ok: matches(snap), snapshot: snap, errors }) + "\n");
}
await browser.close();
