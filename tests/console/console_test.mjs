// The operator console in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven
// by puppeteer-core, against `callrec serve` and `telnyx-sim` started here on loopback, the way
// scripts/run starts them. Registered with CTest as console_browser (CMakeLists.txt); it FAILS,
// never skips, when Chromium, node or the npm packages (`npm ci` in tests/console) are missing.
//
//   node tests/console/console_test.mjs --build-dir build --source-dir .
//
// Scenario: a wrong token sees nothing; sign in; a flow's intake appears live (no reload) with
// its phone masked; search finds it; its page shows the timeline (lines expand to payloads) and
// the audio element gets exactly the stored file's bytes (sha256) and decodes them; a failed
// intake's Retry re-arms it; health shows the unmatched webhook and draws the chart; a
// `#token=` link signs in and leaves no token in the address bar. Screenshots go to
// <build>/console-screenshots/.
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const buildDir = path.resolve(args['build-dir'] || 'build');
const sourceDir = path.resolve(args['source-dir'] || '.');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const TOKEN = 'console-test-token-' + process.pid;
const DEADLINE_MS = 20000;

let passed = 0;
let failed = 0;
const children = [];
let browser = null;

function fail(message) {
  throw new Error(message);
}
function check(cond, message) {
  if (!cond) fail(message);
}
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`[ OK ] ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`[FAIL] ${name}: ${e.stack || e}`);
    throw e;
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Clicks in one page task (query and click together): the list redraws every 2 s, so a handle
// taken by page.click() may be detached by the time puppeteer scrolls to it.
async function clickLive(page, selector) {
  await until(`click ${selector}`, () => page.$eval(selector, (e) => { e.click(); return true; }));
}

async function until(what, fn, deadline = DEADLINE_MS) {
  const end = Date.now() + deadline;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  fail(`timed out waiting for ${what} (last: ${last})`);
}

// ---- the service and the simulator -----------------------------------------------------------

function startProcess(bin, argv, logFile, env = {}) {
  check(fs.existsSync(bin), `${bin} is missing: build it first (ninja -C build callrec telnyx-sim)`);
  const out = fs.openSync(logFile, 'w');
  const child = spawn(bin, argv, { stdio: ['ignore', out, out], env: { ...process.env, ...env } });
  children.push(child);
  return child;
}
async function portFrom(file, log) {
  return until(`port file ${file} (see ${log})`, () => {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
    return text ? Number(text) : 0;
  });
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'callrec-console-'));
const shots = path.join(buildDir, 'console-screenshots');
fs.mkdirSync(shots, { recursive: true });
let api = '';
let sim = '';

async function startServices() {
  const simLog = path.join(work, 'telnyx-sim.log');
  startProcess(path.join(buildDir, 'telnyx-sim'), ['serve', '--listen', '127.0.0.1:0',
    '--port-file', path.join(work, 'sim.port'),
    '--signing-key', path.join(sourceDir, 'data/demo-keys/telnyx-sim-private.pem'),
    '--recording-delay', '200ms'], simLog);
  sim = `http://127.0.0.1:${await portFrom(path.join(work, 'sim.port'), simLog)}`;
  const serveLog = path.join(work, 'callrec.log');
  const publicKey = fs.readFileSync(path.join(sourceDir, 'data/demo-keys/telnyx-sim-public.b64'), 'utf8').trim();
  startProcess(path.join(buildDir, 'callrec'), ['serve', '--data-dir', path.join(work, 'store'),
    '--listen', '127.0.0.1:0', '--port-file', path.join(work, 'serve.port'),
    '--telnyx-api-base', sim, '--telnyx-public-key', publicKey,
    '--fetch-delay', '300ms', '--fetch-interval', '300ms', '--fetch-max-attempts', '2',
    '--storage', 'fs', '--storage-dir', path.join(work, 'recordings')], serveLog,
  { CALLREC_ADMIN_TOKEN: TOKEN, CALLREC_LOG_LEVEL: 'warn' });
  api = `http://127.0.0.1:${await portFrom(path.join(work, 'serve.port'), serveLog)}`;
}

async function apiCall(method, p, body) {
  const res = await fetch(api + p, {
    method, headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}
async function createIntake(phone, patientId) {
  const r = await apiCall('POST', '/api/intakes', { patient_phone: phone, patient_id: patientId });
  check(r.status === 201, `POST /api/intakes answered ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.id;
}
function placeCall(phone, extra = []) {
  execFileSync(path.join(buildDir, 'telnyx-sim'), ['call', '--sim', sim, '--to', phone,
    '--webhook-url', `${api}/api/webhooks/telnyx/call-events`, '--answer-after', '100ms',
    '--hangup-after', '800ms', ...extra], { stdio: ['ignore', 'ignore', 'inherit'] });
}
async function waitForState(id, states) {
  return until(`intake ${id} in ${states}`, async () => {
    const r = await apiCall('GET', `/api/intakes/${id}`);
    return states.includes(r.json?.state) ? r.json : null;
  });
}

// ---- the browser -----------------------------------------------------------------------------

async function launch() {
  check(fs.existsSync(chromiumPath), `${chromiumPath} is missing: scripts/deps test installs Debian's chromium`);
  let puppeteer;
  try {
    puppeteer = (await import('puppeteer-core')).default;
  } catch (e) {
    fail(`puppeteer-core is not installed: run 'npm ci' in tests/console (scripts/test does) (${e.message})`);
  }
  browser = await puppeteer.launch({
    executablePath: chromiumPath,
    headless: false,  // the flag below: Debian's Chromium, its own headless mode
    userDataDir: fs.mkdtempSync(path.join(work, 'chromium-')),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required', '--window-size=1280,900'],
    defaultViewport: { width: 1280, height: 900 },
  });
}
async function newPage() {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`[page console] ${m.text()}`);
  });
  return page;
}
const visible = (page, sel) => page.$eval(sel, (e) => !e.closest('[hidden]')).catch(() => false);

// ---- the scenario ----------------------------------------------------------------------------

async function main() {
  await step('start telnyx-sim and callrec serve', startServices);
  await step('launch headless Chromium', launch);
  const page = await newPage();
  let storedId = '';
  let failedId = '';

  await step('the shell carries a strict CSP and no data', async () => {
    const res = await fetch(`${api}/console/intakes/anything`);
    check(res.status === 200, `shell answered ${res.status}`);
    const csp = res.headers.get('content-security-policy') || '';
    check(csp.includes("default-src 'self'") && csp.includes("script-src 'self'") && !csp.includes('unsafe-inline'),
      `CSP is ${csp}`);
    const js = await fetch(`${api}/console/app.js`);
    check(js.status === 200 && (js.headers.get('content-type') || '').startsWith('text/javascript'), 'app.js served');
  });

  await step('a wrong token sees nothing', async () => {
    await createIntake('+15550100009', 'pat-hidden');
    await page.goto(`${api}/console/#token=wrong-token`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('#signin:not([hidden])', { timeout: DEADLINE_MS });
    check(await page.evaluate(() => location.hash === ''), 'the token stayed in the address bar');
    const message = await page.$eval('#signin-message', (e) => e.textContent);
    check(/wrong token/.test(message), `sign-in says: ${message}`);
    const text = await page.evaluate(() => document.body.innerText);
    check(!text.includes('pat-hidden') && !text.includes('0009'), 'intake data visible without a valid token');
    check(await page.$('#intakes-table') === null, 'the table is shown to a wrong token');
    await page.screenshot({ path: path.join(shots, 'signin.png') });
  });

  await step('sign in with the form', async () => {
    await page.type('#token', TOKEN);
    await page.click('#signin-form button[type=submit]');
    await page.waitForSelector('#intakes-table tbody tr[data-id]', { timeout: DEADLINE_MS });
    check(await page.evaluate((t) => sessionStorage.getItem('callrec.token') === t, TOKEN), 'token not in sessionStorage');
  });

  await step("a flow's intake appears live, phone masked, and reaches stored", async () => {
    storedId = await createIntake('+15550100001', 'pat-0042');
    placeCall('+15550100001');
    await page.waitForSelector(`#intakes-table tr[data-id="${storedId}"]`, { timeout: DEADLINE_MS });
    await page.waitForSelector(`#intakes-table tr[data-id="${storedId}"][data-state="stored"]`, { timeout: DEADLINE_MS });
    const row = await page.$eval(`#intakes-table tr[data-id="${storedId}"]`, (e) => e.innerText);
    check(row.includes('…0001') && !row.includes('+15550100001'), `row shows the phone unmasked: ${row}`);
    const first = await page.$eval('#intakes-table tbody tr', (e) => e.dataset.id);
    check(first === storedId, `newest first: the first row is ${first}`);
    const stored = await page.$eval('.count[data-state="stored"] b', (e) => e.textContent);
    check(Number(stored) >= 1, `stored count ${stored}`);
    await page.screenshot({ path: path.join(shots, 'intakes.png') });
  });

  await step('search by phone digits, patient id and intake id', async () => {
    for (const q of ['0001', 'pat-0042', storedId.slice(0, 8)]) {
      await page.$eval('#search', (e) => { e.value = ''; });
      await page.type('#search', q);
      await until(`search ${q}`, () => page.$$eval('#intakes-table tbody tr[data-id]',
        (rows, id) => rows.length === 1 && rows[0].dataset.id === id, storedId));
    }
    await page.$eval('#search', (e) => { e.value = ''; });
    await page.type('#search', 'no-such-intake-zz');
    await until('no rows', () => page.$$eval('#intakes-table tbody tr[data-id]', (rows) => rows.length === 0));
    await page.$eval('#search', (e) => { e.value = ''; e.dispatchEvent(new Event('input')); });
  });

  await step('one intake: fields, timeline, and the exact stored audio', async () => {
    await until('the row again', () => page.$(`#intakes-table tr[data-id="${storedId}"]`));
    await clickLive(page, `#intakes-table tr[data-id="${storedId}"] td:nth-child(2)`);
    await page.waitForSelector('#timeline details', { timeout: DEADLINE_MS });
    check(await page.evaluate(() => location.pathname) === `/console/intakes/${storedId}`, 'deep link path');
    const lines = await page.$$eval('#timeline details summary', (s) => s.map((e) => e.textContent));
    check(lines[0].includes('intake created, patient …0001'), `first line: ${lines[0]}`);
    check(lines.some((l) => l.includes('call.answered')) && lines.some((l) => l.includes('stored, sha256')),
      `timeline lines: ${lines.join('\n')}`);
    await page.click('#timeline details[data-type="intake.created"] summary');
    const payload = await page.$eval('#timeline details[data-type="intake.created"] pre', (e) => e.textContent);
    check(payload.includes('"patient_id": "pat-0042"'), `payload: ${payload}`);

    const file = path.join(work, 'recordings', storedId, 'recording.wav');
    const want = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    await page.waitForSelector('#audio[data-sha256]', { timeout: DEADLINE_MS });
    const got = await page.$eval('#audio', (e) => e.dataset.sha256);
    check(got === want, `the audio element got sha256 ${got}, the stored file is ${want}`);
    const duration = await until('the audio element to decode the recording', () => page.$eval('#audio',
      (e) => (e.readyState >= 1 && e.duration > 0 ? e.duration : 0)));
    check(duration > 0.1, `audio duration ${duration}`);
    const src = await page.$eval('#audio', (e) => e.src);
    check(src.startsWith('blob:') && !src.includes(TOKEN), `audio src ${src}`);
    check(await page.$eval('#sha-check', (e) => e.className) === 'ok', 'the page did not confirm the sha256');
    await page.screenshot({ path: path.join(shots, 'intake.png'), fullPage: true });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(shots, 'intake-top.png') });
  });

  await step('Retry re-arms a failed intake', async () => {
    failedId = await createIntake('+15550100002', 'pat-0043');
    placeCall('+15550100002', ['--recording-missing']);
    await waitForState(failedId, ['failed']);
    await page.goto(`${api}/console/intakes/${failedId}`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('#failure #retry', { timeout: DEADLINE_MS });
    const words = await page.$eval('#failure', (e) => e.textContent);
    check(words.includes('Telnyx never listed a recording for this call'), `failure shown as: ${words}`);
    await page.screenshot({ path: path.join(shots, 'failed.png') });
    await page.click('#retry');
    await page.waitForSelector('#retry-result.ok', { timeout: DEADLINE_MS });
    await page.waitForSelector('#timeline details[data-type="intake.retry_requested"]', { timeout: DEADLINE_MS });
    // Re-armed: the pipeline queried Telnyx again after the retry.
    await until('a query after the retry', () => page.$$eval('#timeline details', (ds) => {
      const i = ds.findIndex((d) => d.dataset.type === 'intake.retry_requested');
      return i >= 0 && ds.slice(i + 1).some((d) => d.dataset.type === 'recording.fetch_scheduled' ||
        d.dataset.type === 'telnyx.recordings_list');
    }));
  });

  await step('health: unmatched webhooks, queue, chart', async () => {
    placeCall('+15550109999');  // nobody expects this call
    await page.goto(`${api}/console/health`, { waitUntil: 'domcontentloaded' });
    await until('an unmatched webhook listed', () => page.$$eval('#unmatched tbody tr[data-seq]', (r) => r.length > 0),
      DEADLINE_MS);
    const reason = await page.$eval('#unmatched tbody tr[data-seq] td:last-child', (e) => e.textContent);
    check(reason.length > 5, `unmatched reason: ${reason}`);
    await page.waitForSelector('#chart-svg rect[data-outcome="stored"]', { timeout: DEADLINE_MS });
    await page.waitForSelector('#tile-signature b', { timeout: DEADLINE_MS });
    await page.waitForSelector('#lanes tbody tr', { timeout: DEADLINE_MS });
    await page.screenshot({ path: path.join(shots, 'health.png'), fullPage: true });
  });

  await step('a #token= link signs in and leaves no token in the address bar or history', async () => {
    const fresh = await browser.createBrowserContext();
    const p2 = await fresh.newPage();
    await p2.goto(`${api}/console/intakes/${storedId}#token=${encodeURIComponent(TOKEN)}`, { waitUntil: 'domcontentloaded' });
    await p2.waitForSelector('#timeline details', { timeout: DEADLINE_MS });
    check(await p2.evaluate(() => location.href.includes('token')) === false, 'token left in the URL');
    await fresh.close();
  });

  await step('the list shows the failed intake with its reason in words', async () => {
    await page.goto(`${api}/console/`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector(`#intakes-table tr[data-id="${failedId}"]`, { timeout: DEADLINE_MS });
    await clickLive(page, '.count[data-state="failed"]');
    await until('only failed rows', () => page.$$eval('#intakes-table tbody tr[data-id]',
      (rows) => rows.length > 0 && rows.every((r) => r.dataset.state === 'failed')));
    await clickLive(page, '.count[data-state="all"]');
    await until('all rows again', () => page.$$eval('#intakes-table tbody tr[data-id]', (rows) => rows.length >= 3));
    await page.screenshot({ path: path.join(shots, 'overview.png') });
  });

  await step('signing out hides everything', async () => {
    await page.click('#sign-out');
    await page.waitForSelector('#signin:not([hidden])', { timeout: DEADLINE_MS });
    check(!(await visible(page, '#unmatched')), 'health still visible after sign-out');
  });
}

let exitCode = 0;
const timer = setTimeout(() => {
  console.log('[FAIL] the whole scenario took over 90 s');
  cleanup().finally(() => process.exit(1));
}, 90000);

async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  for (const c of children) c.kill('SIGTERM');
  await sleep(200);
}

try {
  await main();
} catch (e) {
  exitCode = 1;
  if (failed === 0) {
    failed++;
    console.log(`[FAIL] ${e.stack || e}`);
  }
  for (const log of ['callrec.log', 'telnyx-sim.log']) {
    const f = path.join(work, log);
    if (fs.existsSync(f)) console.log(`--- ${log} (last lines)\n` + fs.readFileSync(f, 'utf8').split('\n').slice(-15).join('\n'));
  }
}
clearTimeout(timer);
await cleanup();
if (exitCode === 0) fs.rmSync(work, { recursive: true, force: true });
console.log(`screenshots: ${shots}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(exitCode || (failed ? 1 : 0));
