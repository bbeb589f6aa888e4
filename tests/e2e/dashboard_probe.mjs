// Drives the local dashboard in headless Debian chromium through playwright-core (no browser download).
// usage: node dashboard_probe.mjs <url> <screenshot.png>
// Reads JSON lines on stdin: {"expect": {"<data-testid>": "<text>", ...}, "timeout_ms": 60000}. For each, waits
// (without reloading: the page refreshes itself) until every named element shows its text, then answers one JSON
// line {"ok": true|false, "snapshot": {...}} with what the page shows. Exits when stdin closes.
// {"layout": <width>, "height": <px>, "expect": {...}, "choose": "<feature>"?, "then_expect": {...}?} opens one more
// page at that viewport width (one load), waits for `expect`, measures every card and table (bounding boxes and
// scroll widths) and, with `choose`, picks that feature in the select (no reload), waits for `then_expect` and
// measures again; answers {"ok", "first": {snapshot, layout}, "chosen": {...}?, "errors"}.
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

async function snapshot(on = page) {
  return on.evaluate(() => {
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

// Where each card's content ends, and whether anything in it (a table, the chart, the hint) reaches past that or
// scrolls: a table scrolling inside its card still counts as wider than the card.
async function layout(on) {
  return on.evaluate(() => {
    const doc = document.documentElement;
    const cards = [...document.querySelectorAll("main > section")].map((card) => {
      const box = card.getBoundingClientRect();
      const style = getComputedStyle(card);
      const inner = { left: box.left + parseFloat(style.paddingLeft), right: box.right - parseFloat(style.paddingRight) };
      const measure = (node) => {
        const r = node.getBoundingClientRect();
        return { left: r.left, right: r.right, width: r.width, height: r.height, scrollWidth: node.scrollWidth, clientWidth: node.clientWidth,
                 visible: r.width > 0 && r.height > 0 && getComputedStyle(node).visibility !== "hidden" };
      };
      return {
        id: card.id, left: box.left, right: box.right, inner,
        tables: [...card.querySelectorAll("table")].map(measure),
        scrollers: [...card.querySelectorAll(".table-wrap")].map(measure),
        charts: [...card.querySelectorAll("svg")].map(measure),
        hints: [...card.querySelectorAll("[data-testid=variants-hint]")].map((h) => ({ ...measure(h), text: h.textContent.trim() })),
        scrollWidth: card.scrollWidth, clientWidth: card.clientWidth,
      };
    });
    return { viewport: window.innerWidth, pageScrollWidth: doc.scrollWidth, pageClientWidth: doc.clientWidth, cards };
  });
}

async function waitFor(on, expect, timeout_ms) {
  const deadline = Date.now() + (timeout_ms ?? 60000);
  let snap = await snapshot(on);
  const matches = (s) => s.loaded && Object.entries(expect ?? {}).every(([id, text]) => s.texts[id] === text);
  while (!matches(snap) && Date.now() < deadline) {
    await on.waitForTimeout(250);
    snap = await snapshot(on);
  }
  return { ok: matches(snap), snapshot: snap };
}

async function layoutAt(command) {
  const other = await browser.newPage({ viewport: { width: command.layout, height: command.height ?? 900 } });
  other.on("pageerror", (e) => errors.push(String(e)));
  try {
    await other.goto(url);
    const first = await waitFor(other, command.expect, command.timeout_ms);
    first.layout = await layout(other);
    const answer = { ok: first.ok, first, errors };
    if (command.choose) {
      await other.selectOption("#feature", command.choose);
      const chosen = await waitFor(other, command.then_expect, command.timeout_ms);
      chosen.layout = await layout(other);
      answer.chosen = chosen;
      answer.ok = first.ok && chosen.ok;
    }
    await other.screenshot({ path: screenshot.replace(/\.png$/, `-${command.layout}.png`), fullPage: true });
    return answer;
  } finally {
    await other.close();
  }
}

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const command = JSON.parse(line);
  if (command.layout) {
    process.stdout.write(JSON.stringify(await layoutAt(command)) + "\n");
    continue;
  }
  const { expect, timeout_ms } = command;
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
