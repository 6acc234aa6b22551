// Drives /ui in headless Chromium (Debian's `chromium`, through playwright-core): the page
// loads with no network but loopback, shows a gated rotation's batches advancing live, and
// an approve click moves it on. Run by the integration test with FLUIDFORM_URL,
// FLUIDFORM_TOKEN, ROTATION (a rotation id), and SCREENSHOT (where to save the page).
import { chromium } from "playwright-core";

const url = process.env.FLUIDFORM_URL;
const token = process.env.FLUIDFORM_TOKEN;
const rotation = process.env.ROTATION;
const runtime = process.env.RUNTIME;
const screenshot = process.env.SCREENSHOT;
const step = (m) => console.log(`ui: ${m}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const fail = async (page, m) => {
  console.error(`ui: FAILED: ${m}`);
  if (page) console.error(await page.content());
  await browser.close();
  process.exit(1);
};
try {
  const context = await browser.newContext({ viewport: { width: 1200, height: 760 } });
  const page = await context.newPage();
  const offsite = [];
  const origin = new URL(url).origin;
  // Only loopback answers: anything else the page asks for is refused and remembered.
  await context.route("**/*", (r) => {
    const u = new URL(r.request().url());
    if (u.hostname === "127.0.0.1" || u.hostname === "localhost") return r.continue();
    offsite.push(u.href);
    return r.abort();
  });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));

  await page.goto(`${origin}/ui`);
  await page.waitForSelector("#login:not([hidden])");
  step("asks for the token");
  await page.fill("#token", "not-the-token-0000");
  await page.click("#login-form button");
  await page.waitForFunction(() => document.querySelector("#login-error").textContent.includes("refused"));
  errors.length = 0; // the refusal above logs its 401; nothing else may
  await page.fill("#token", token);
  await page.click("#login-form button");
  await page.waitForSelector(`#runtimes tr[data-runtime="${runtime}"]`);
  step("lists runtimes with their sync state");
  const sync = await page.textContent(`#runtimes tr[data-runtime="${runtime}"] td:nth-child(5)`);
  if (!/in sync|drifted|pending changes/.test(sync)) await fail(page, `sync state shown as ${sync}`);
  await page.click(`#runtimes tr[data-runtime="${runtime}"]`);
  await page.waitForSelector('#resolved tr[data-component="fuse"]');
  step("shows which layer won per component");

  await page.goto(`${origin}/ui#rotations/${rotation}`);
  await page.waitForSelector(`#rotations tr[data-rotation="${rotation}"]`);
  await page.waitForSelector('#rotation-card .batch[data-batch="0"][data-state="healthy"]', { timeout: 120000 });
  await page.waitForSelector('#rotation-card[data-state="waiting_approval"] button[data-command="approve"]', {
    timeout: 60000,
  });
  const second = await page.getAttribute('#rotation-card .batch[data-batch="1"]', "data-state");
  if (second !== "pending") await fail(page, `batch 2 is ${second} before the approval`);
  step("the first batch filled in live and the rotation waits at the gate");
  if (screenshot) {
    await page.screenshot({ path: screenshot, fullPage: true });
    step(`screenshot saved to ${screenshot}`);
  }
  await page.click('button[data-command="approve"]');
  await page.waitForSelector('#rotation-card .batch[data-batch="1"][data-state="healthy"]', { timeout: 120000 });
  await page.waitForSelector('#rotation-card[data-state="succeeded"]', { timeout: 30000 });
  step("approve moved it on: the second batch is healthy and the rotation succeeded");
  const events = await page.textContent("#rotation-events");
  if (!events.includes("batch_healthy")) await fail(page, `no events shown: ${events}`);
  if (offsite.length) await fail(null, `the page asked for other hosts: ${offsite.join(", ")}`);
  if (errors.length) await fail(null, `errors in the page: ${errors.join("; ")}`);
  step("ok");
  await browser.close();
} catch (e) {
  console.error(e);
  await browser.close();
  process.exit(1);
}
