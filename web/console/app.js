// callrec operator console. Plain DOM, no framework, no external code (the page's CSP allows
// scripts, styles and connections from this origin only). Every data call carries the admin
// token from sessionStorage; a 401 shows the sign-in form. Data is inserted as text, never as
// HTML. Views: intakes list (/console/), one intake (/console/intakes/{id}), health
// (/console/health). Live updates by polling every 2 s while a view is open.
'use strict';

const TOKEN_KEY = 'callrec.token';
const POLL_MS = 2000;
const PAGE = 25;
const STATES = ['created', 'answered', 'recording', 'ended', 'fetched', 'stored', 'failed'];
const FAILURE_WORDS = {
  record_start_failed: 'the recording could not be started on the call',
  recording_not_found: 'Telnyx never listed a recording for this call',
  download_failed: 'the recording could not be downloaded from Telnyx',
  upload_failed: 'the copy could not be stored',
  gave_up: 'no usable answer from Telnyx for 24 hours',
};

let pollTimer = null;
let viewSerial = 0;  // a view's async work stops once another view is shown
let audioUrl = null;

// ---- tiny DOM helpers ----------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const $ = (sel) => document.querySelector(sel);
function stateBadge(s) { return h('span', { class: 'state ' + s }, s); }
function maskPhone(p) { return !p ? '' : p.length <= 4 ? '…' : '…' + p.slice(-4); }
function shortTime(iso) { return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : ''; }
function failureText(intake) {
  if (intake.state !== 'failed') return '';
  const words = FAILURE_WORDS[intake.failure_reason] || intake.failure_reason || 'failed';
  return words + (intake.last_error ? ': ' + intake.last_error : '');
}

// ---- token and API ---------------------------------------------------------------------------

function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: 'Bearer ' + token() }, options.headers || {});
  const res = await fetch(path, Object.assign({}, options, { headers, cache: 'no-store' }));
  if (res.status === 401) {
    let msg = 'The token was refused.';
    try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
    showSignIn(msg);
    throw new Unauthorized(msg);
  }
  return res;
}
async function apiJson(path, options) {
  const res = await api(path, options);
  const body = await res.json().catch(() => ({ error: 'HTTP ' + res.status }));
  if (!res.ok) throw new Error(body.error || 'HTTP ' + res.status);
  return body;
}

function showSignIn(message) {
  stopPolling();
  sessionStorage.removeItem(TOKEN_KEY);
  $('#view').replaceChildren();
  $('#nav').hidden = true;
  $('#sign-out').hidden = true;
  $('#live').hidden = true;
  $('#signin').hidden = false;
  if (message) $('#signin-message').textContent = message;
  $('#token').focus();
}

// ---- routing ---------------------------------------------------------------------------------

function navigate(path) {
  history.pushState(null, '', path);
  render();
}

function stopPolling() {
  if (pollTimer) clearInterval(pollTimer);
  pollTimer = null;
}
function poll(fn) {
  stopPolling();
  const serial = viewSerial;
  const tick = async () => {
    if (serial !== viewSerial) return;
    try {
      await fn();
      $('#live').classList.remove('stale');
      $('#live').textContent = 'live · ' + new Date().toLocaleTimeString();
    } catch (e) {
      if (e instanceof Unauthorized) return;
      $('#live').classList.add('stale');
      $('#live').textContent = 'not updating: ' + e.message;
    }
  };
  tick();
  pollTimer = setInterval(tick, POLL_MS);
}

function render() {
  viewSerial++;
  stopPolling();
  if (audioUrl) { URL.revokeObjectURL(audioUrl); audioUrl = null; }
  if (!token()) return showSignIn();
  $('#signin').hidden = true;
  $('#nav').hidden = false;
  $('#sign-out').hidden = false;
  $('#live').hidden = false;
  const path = location.pathname.replace(/\/+$/, '');
  const m = path.match(/^\/console\/intakes\/([A-Za-z0-9_-]+)$/);
  document.querySelectorAll('nav a').forEach((a) => a.classList.remove('active'));
  if (m) return renderIntake(decodeURIComponent(m[1]));
  if (path === '/console/health') {
    $('#nav-health').classList.add('active');
    return renderHealth();
  }
  $('#nav-intakes').classList.add('active');
  return renderIntakes();
}

// ---- intakes list ----------------------------------------------------------------------------

const listState = { state: '', q: '', pages: [null] };  // pages: stack of `before` cursors

function renderIntakes() {
  const view = $('#view');
  const counts = h('div', { class: 'counts', id: 'counts' });
  const search = h('input', { id: 'search', type: 'search', value: listState.q,
    placeholder: 'intake id, patient id, or last digits of the phone' });
  const filter = h('select', { id: 'state-filter' }, h('option', { value: '' }, 'all states'),
    STATES.map((s) => h('option', { value: s, selected: s === listState.state }, s)));
  const tbody = h('tbody');
  const table = h('table', { id: 'intakes-table' },
    h('thead', {}, h('tr', {}, ['Intake', 'State', 'Phone', 'Patient', 'Created', 'Updated', 'Why']
      .map((t) => h('th', {}, t)))), tbody);
  const info = h('span', { class: 'muted', id: 'page-info' });
  const newer = h('button', { id: 'newer' }, '← Newer');
  const older = h('button', { id: 'older' }, 'Older →');
  view.replaceChildren(h('h1', {}, 'Intakes'), counts,
    h('div', { class: 'toolbar' }, search, filter), table, h('div', { class: 'pager' }, newer, older, info));

  let next = null;
  const reset = () => { listState.pages = [null]; refresh(); };
  let typing = null;
  search.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => { listState.q = search.value.trim(); reset(); }, 250);
  });
  filter.addEventListener('change', () => { listState.state = filter.value; reset(); });
  newer.addEventListener('click', () => { listState.pages.pop(); refresh(); });
  older.addEventListener('click', () => { if (next) { listState.pages.push(next); refresh(); } });

  let ticks = 0;
  let lastQuery = '';
  async function refresh() {
    const serial = viewSerial;
    const params = new URLSearchParams({ order: 'newest', limit: String(PAGE) });
    if (listState.state) params.set('state', listState.state);
    if (listState.q) params.set('q', listState.q);
    const before = listState.pages[listState.pages.length - 1];
    if (before) params.set('before', String(before));
    // A search scans up to 5,000 intakes: while it stays the same, redo it every 10 s, not 2 s.
    const query = params.toString();
    if (listState.q && query === lastQuery && ticks++ % 5 !== 0) return;
    if (query !== lastQuery) ticks = 1;
    lastQuery = query;
    const [c, page] = await Promise.all([apiJson('/api/intake-counts'), apiJson('/api/intakes?' + params)]);
    if (serial !== viewSerial) return;
    drawCounts(counts, c, filter);
    next = page.next_before;
    tbody.replaceChildren(...page.intakes.map(intakeRow));
    if (!page.intakes.length) {
      tbody.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' },
        page.next_before ? 'No match among the newest ' + page.examined + ' intakes; press Older to search further.'
                         : 'No intakes' + (listState.q || listState.state ? ' match.' : ' yet.'))));
    }
    newer.disabled = listState.pages.length <= 1;
    older.disabled = !next;
    info.textContent = 'page ' + listState.pages.length + (listState.q ? ' · searched ' + page.examined + ' intakes' : '');
  }
  poll(refresh);
}

function drawCounts(el, c, filter) {
  const tile = (label, n, s) => h('button', {
    class: 'count' + (listState.state === s ? ' selected' : ''), 'data-state': s || 'all',
    onclick: () => { listState.state = s; filter.value = s; listState.pages = [null]; render(); },
  }, h('b', {}, n), label);
  el.replaceChildren(tile('all', c.total, ''), ...STATES.map((s) => tile(s, c.counts[s], s)));
}

function intakeRow(i) {
  return h('tr', { class: 'row', 'data-id': i.id, 'data-state': i.state,
    onclick: (e) => { if (!e.target.closest('a')) navigate('/console/intakes/' + encodeURIComponent(i.id)); } },
  h('td', {}, h('a', { href: '/console/intakes/' + encodeURIComponent(i.id), 'data-link': true, class: 'mono' }, i.id)),
  h('td', {}, stateBadge(i.state)),
  h('td', { class: 'mono' }, maskPhone(i.patient_phone)),
  h('td', {}, i.patient_id || ''),
  h('td', { class: 'mono' }, shortTime(i.created_at)),
  h('td', { class: 'mono' }, shortTime(i.updated_at)),
  h('td', { class: 'reason' }, failureText(i)));
}

// ---- one intake ------------------------------------------------------------------------------

function renderIntake(id) {
  const view = $('#view');
  const head = h('div', { id: 'intake-head' });
  // Outside `head`, which is redrawn: the retry's answer stays while the intake moves on.
  const retryNote = h('p', { id: 'retry-result' });
  const fields = h('dl', { class: 'fields', id: 'fields' });
  const player = h('div', { class: 'player', id: 'player' }, h('span', { class: 'muted' }, 'Loading…'));
  const timeline = h('div', { class: 'timeline', id: 'timeline' });
  view.replaceChildren(h('p', {}, h('a', { href: '/console/', 'data-link': true }, '← Intakes')),
    head, retryNote, h('h2', {}, 'Recording'), player, h('h2', {}, 'Fields'), fields,
    h('h2', {}, 'Timeline'), h('p', { class: 'muted' }, 'The same lines as `callrec timeline`; click one for its raw payload.'),
    timeline);
  let lastSig = '';
  let audioFor = '';
  const open = new Set();  // expanded timeline lines survive refreshes

  async function refresh() {
    const serial = viewSerial;
    let intake;
    try {
      intake = await apiJson('/api/intakes/' + encodeURIComponent(id));
    } catch (e) {
      if (!(e instanceof Unauthorized)) head.replaceChildren(h('h1', {}, 'Intake ' + id), h('p', { class: 'error' }, e.message));
      throw e;
    }
    const tl = await apiJson('/api/intakes/' + encodeURIComponent(id) + '/timeline');
    if (serial !== viewSerial) return;
    const sig = intake.updated_at + '|' + tl.events.length;
    if (sig === lastSig) return;
    lastSig = sig;
    drawHead(head, intake, refresh, retryNote);
    drawFields(fields, intake);
    drawTimeline(timeline, tl.events, open);
    const audioKey = intake.state + '|' + (intake.metadata.recording_url_storage || intake.metadata.recording_id || '');
    if (audioKey !== audioFor) {
      audioFor = audioKey;
      loadAudio(player, intake, serial);
    }
  }
  poll(refresh);
}

function drawHead(el, intake, refresh, msg) {
  const parts = [h('h1', {}, 'Intake ', h('span', { class: 'mono', id: 'intake-id' }, intake.id), ' ',
    h('span', { id: 'intake-state' }, stateBadge(intake.state)))];
  if (intake.state === 'failed') {
    const btn = h('button', { class: 'primary', id: 'retry' }, 'Retry');
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      try {
        const r = await apiJson('/api/intakes/' + encodeURIComponent(intake.id) + '/retry', { method: 'POST' });
        msg.className = 'ok';
        msg.textContent = 'Re-armed (event #' + r.seq + '); the pipeline picks it up from where it stopped.';
        refresh();
      } catch (e) {
        msg.className = 'error';
        msg.textContent = e.message;
        btn.disabled = false;
      }
    });
    parts.push(h('div', { class: 'failure', id: 'failure' },
      h('b', {}, 'Failed: '), failureText(intake), ' ', btn));
  } else if (intake.last_error) {
    parts.push(h('p', { class: 'muted' }, 'Last error: ' + intake.last_error));
  }
  el.replaceChildren(...parts);
}

function matchText(md) {
  if (!md.match) return null;
  const how = { client_state: 'exactly, by the call\'s client_state', sip_header: 'exactly, by the SIP header',
    phone: 'by the patient\'s number (the only candidate)', ambiguous: 'by the patient\'s number, but other intakes could have matched' };
  let t = how[md.match] || md.match;
  if (Array.isArray(md.match_candidates) && md.match_candidates.length) t += ' (others: ' + md.match_candidates.join(', ') + ')';
  return t;
}

function drawFields(el, intake) {
  const md = intake.metadata || {};
  const rows = [
    ['State', stateBadge(intake.state)],
    ['Patient phone', intake.patient_phone],
    ['Patient id', intake.patient_id || '—'],
    ['Created', intake.created_at], ['Updated', intake.updated_at],
    ['Matched', matchText(md) || (md.call_control_id ? 'by the patient\'s number' : 'no call yet')],
    ['Fetch attempts', intake.fetch_attempts],
    ['Next attempt', intake.next_attempt_at || '—'],
  ];
  if (intake.failure_reason) rows.push(['Failure reason', intake.failure_reason]);
  if (intake.last_error) rows.push(['Last error', intake.last_error]);
  for (const [k, v] of Object.entries(md)) {
    if (k === 'match' || k === 'match_candidates') continue;
    rows.push(['metadata.' + k, typeof v === 'string' ? v : JSON.stringify(v)]);
  }
  el.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { 'data-field': k }, v)]));
}

function offsetText(ms) {
  if (ms < 60000) return '+' + (ms / 1000).toFixed(3) + 's';
  if (ms < 3600000) return '+' + Math.floor(ms / 60000) + 'm' + ((ms % 60000) / 1000).toFixed(1).padStart(4, '0') + 's';
  return '+' + Math.floor(ms / 3600000) + 'h' + String(Math.floor((ms % 3600000) / 60000)).padStart(2, '0') + 'm';
}

function drawTimeline(el, events, open) {
  const t0 = events.length ? Date.parse(events[0].recorded_at) : 0;
  el.replaceChildren(...events.map((e) => {
    const line = e.recorded_at + '  ' + offsetText(Date.parse(e.recorded_at) - t0).padStart(9) + '  #' +
      String(e.seq).padEnd(6) + ' ' + e.source.padEnd(14) + ' ' + e.summary;
    let payload = e.payload;
    if (typeof payload === 'string') { try { payload = JSON.parse(payload); } catch (x) { /* text */ } }
    const d = h('details', { 'data-seq': e.seq, 'data-type': e.type, open: open.has(e.seq) },
      h('summary', { class: 'mono' }, line),
      h('pre', { class: 'mono' }, typeof payload === 'string' ? payload : JSON.stringify(payload, null, 2)));
    d.addEventListener('toggle', () => { if (d.open) open.add(e.seq); else open.delete(e.seq); });
    return d;
  }));
}

async function sha256Hex(buf) {
  const d = await crypto.subtle.digest('SHA-256', buf);
  return Array.from(new Uint8Array(d)).map((b) => b.toString(16).padStart(2, '0')).join('');
}

// The audio element cannot send the token, so the page fetches the recording with it and hands
// the element a blob: URL of exactly those bytes (checked against the stored sha256 when known).
async function loadAudio(el, intake, serial) {
  const md = intake.metadata || {};
  if (!md.recording_url_storage && !md.recording_url_supabase && !md.recording_id) {
    el.replaceChildren(h('span', { class: 'muted', id: 'no-recording' }, 'No recording yet.'));
    return;
  }
  el.replaceChildren(h('span', { class: 'muted' }, 'Loading the recording…'));
  try {
    const res = await api('/api/intakes/' + encodeURIComponent(intake.id) + '/recording',
      { headers: { Accept: 'audio/*, application/json;q=0.5' } });
    if (serial !== viewSerial) return;
    const type = res.headers.get('Content-Type') || '';
    if (type.startsWith('application/json')) {
      const body = await res.json();
      if (!res.ok) throw new Error(body.error || 'HTTP ' + res.status);
      const audio = h('audio', { controls: true, preload: 'metadata', id: 'audio', src: body.location });
      el.replaceChildren(audio, h('p', { class: 'muted' }, 'Streaming from ' + body.source + ' (a short-lived link).'));
      return;
    }
    if (!res.ok) throw new Error('HTTP ' + res.status);
    const buf = await res.arrayBuffer();
    const hex = await sha256Hex(buf);
    if (serial !== viewSerial) return;
    if (audioUrl) URL.revokeObjectURL(audioUrl);
    audioUrl = URL.createObjectURL(new Blob([buf], { type }));
    const audio = h('audio', { controls: true, preload: 'auto', id: 'audio', src: audioUrl,
      'data-sha256': hex, 'data-bytes': buf.byteLength });
    const expected = md.recording_sha256;
    const check = !expected ? h('span', { class: 'muted' }, 'sha256 ' + hex)
      : expected === hex ? h('span', { class: 'ok', id: 'sha-check' }, '✓ the bytes match the stored sha256 ' + hex.slice(0, 12) + '…')
        : h('span', { class: 'error', id: 'sha-check' }, '✗ sha256 ' + hex + ' differs from the stored ' + expected);
    el.replaceChildren(audio, h('p', {}, (buf.byteLength / 1024).toFixed(1) + ' KB, ' + type + ' · ', check));
  } catch (e) {
    if (e instanceof Unauthorized) return;
    el.replaceChildren(h('span', { class: 'error', id: 'no-recording' }, e.message));
  }
}

// ---- health ----------------------------------------------------------------------------------

function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/);
    if (m) out.push({ name: m[1], labels: m[2] || '', value: Number(m[3]) });
  }
  return out;
}
const sum = (ms, name) => ms.filter((m) => m.name === name).reduce((a, m) => a + m.value, 0);

function renderHealth() {
  const view = $('#view');
  const tiles = h('div', { class: 'grid', id: 'health-tiles' });
  const lanes = h('table', { id: 'lanes' });
  const chart = h('div', { class: 'chart', id: 'chart' });
  const unmatched = h('table', { id: 'unmatched' });
  view.replaceChildren(h('h1', {}, 'Health'), tiles,
    h('h2', {}, 'Calls per day, by outcome'), chart,
    h('h2', {}, 'Unmatched webhooks'),
    h('p', { class: 'muted' }, 'Calls nobody was expecting: the first sign of a broken integration (no intake created before the call, or a number that differs).'),
    unmatched, h('h2', {}, 'Work queues'), lanes);
  let tick = 0;
  async function refresh() {
    const serial = viewSerial;
    const slow = tick++ % 5 === 0;  // the chart and the unmatched list every 10 s
    const metricsText = await (await api('/metrics')).text();
    const [u, days] = slow ? await Promise.all([apiJson('/api/unmatched-webhooks?limit=50'),
      apiJson('/api/calls-per-day?days=14')]) : [null, null];
    if (serial !== viewSerial) return;
    const ms = parseMetrics(metricsText);
    drawTiles(tiles, ms, u);
    drawLanes(lanes, ms);
    if (days) drawChart(chart, days);
    if (u) drawUnmatched(unmatched, u);
  }
  poll(refresh);
}

function drawTiles(el, ms, u) {
  const sig = ms.filter((m) => m.name === 'callrec_webhook_signature_failures_total');
  const sigTotal = sig.reduce((a, m) => a + m.value, 0);
  const byReason = sig.filter((m) => m.value > 0).map((m) => (m.labels.match(/reason="([^"]*)"/) || [])[1] + ' ' + m.value).join(', ');
  const oldest = ms.filter((m) => /^callrec_lane_.*oldest/.test(m.name) || m.name === 'callrec_scheduler_oldest_due_seconds');
  const tile = (id, label, value, note) => h('div', { class: 'tile', id }, h('b', {}, value), label,
    note ? h('div', { class: 'muted' }, note) : null);
  const tilesList = [
    tile('tile-unmatched', 'unmatched webhooks', u ? u.total : sum(ms, 'callrec_projector_unmatched_webhooks')),
    tile('tile-signature', 'signature failures', sigTotal, byReason || null),
    tile('tile-pending', 'intakes with a next step', sum(ms, 'callrec_scheduler_pending_intakes')),
    ms.some((m) => m.name === 'callrec_lane_queue_depth')
      ? tile('tile-queue', 'steps due, waiting for a worker', sum(ms, 'callrec_lane_queue_depth')) : null,
    tile('tile-inflight', 'steps running now', sum(ms, 'callrec_scheduler_in_flight')),
    tile('tile-oldest', 'oldest due step', oldest.length ? Math.max(...oldest.map((m) => m.value)).toFixed(1) + ' s late' : '—',
      oldest.length ? null : 'not reported by this version'),
    tile('tile-unauthorized', 'refused admin requests', sum(ms, 'callrec_admin_unauthorized_total')),
  ];
  if (sum(ms, 'callrec_signature_verification_disabled') > 0) {
    tilesList.unshift(tile('tile-insecure', 'signature verification', 'OFF', 'started with --insecure-skip-signature'));
  }
  el.replaceChildren(...tilesList.filter(Boolean));
}

// Per-lane queues (callrec_lane_*{lane="..."}) when the service reports them, else the
// scheduler's totals.
function drawLanes(el, ms) {
  const laneMetrics = ms.filter((m) => m.name.startsWith('callrec_lane_'));
  if (laneMetrics.length) {
    const lanes = new Map();
    for (const m of laneMetrics) {
      const lane = (m.labels.match(/lane="([^"]*)"/) || [])[1] || m.labels || '-';
      if (!lanes.has(lane)) lanes.set(lane, {});
      lanes.get(lane)[m.name.replace('callrec_lane_', '')] = m.value;
    }
    const cols = ['queue_depth', 'in_flight', 'oldest_due_age_seconds', 'workers'];
    const heads = ['Lane', 'Waiting', 'Running', 'Oldest due (s)', 'Workers'];
    el.replaceChildren(h('thead', {}, h('tr', {}, heads.map((t) => h('th', {}, t)))),
      h('tbody', {}, [...lanes].map(([lane, v]) => h('tr', { 'data-lane': lane }, h('td', {}, lane),
        cols.map((c) => h('td', { class: 'mono' }, v[c] === undefined ? '—' : (c.includes('seconds') ? v[c].toFixed(1) : v[c])))))));
    return;
  }
  const rows = ms.filter((m) => m.name.startsWith('callrec_scheduler_'));
  el.replaceChildren(h('thead', {}, h('tr', {}, h('th', {}, 'metric'), h('th', {}, 'labels'), h('th', {}, 'value'))),
    h('tbody', {}, rows.map((m) => h('tr', {}, h('td', { class: 'mono' }, m.name),
      h('td', { class: 'mono' }, m.labels), h('td', { class: 'mono' }, m.value)))));
}

function drawUnmatched(el, u) {
  el.replaceChildren(h('thead', {}, h('tr', {}, ['Seq', 'Received', 'Event', 'Call', 'Why'].map((t) => h('th', {}, t)))),
    h('tbody', {}, u.webhooks.length ? u.webhooks.map((w) => h('tr', { 'data-seq': w.seq },
      h('td', { class: 'mono' }, '#' + w.seq), h('td', { class: 'mono' }, shortTime(w.recorded_at)),
      h('td', {}, w.event_type), h('td', { class: 'mono' }, w.call_control_id), h('td', { class: 'reason' }, w.reason)))
      : h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'None.'))));
}

// A stacked bar per day: stored, fetched, failed, in progress, not answered. Plain SVG.
function drawChart(el, data) {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = (tag, attrs) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    return e;
  };
  const groups = [
    ['stored', (d) => d.stored, '#2e9a4c'], ['fetched', (d) => d.fetched, '#2fa39a'],
    ['failed', (d) => d.failed, '#d2413a'],
    ['progress', (d) => d.answered + d.recording + d.ended, '#3d7be0'], ['created', (d) => d.created, '#9aa3b2'],
  ];
  const W = 760, H = 200, pad = 28, n = data.days.length;
  const max = Math.max(1, ...data.days.map((d) => groups.reduce((a, g) => a + g[1](d), 0)));
  const bw = (W - pad * 2) / n;
  const root = svg('svg', { viewBox: `0 0 ${W} ${H + 30}`, width: '100%', role: 'img', id: 'chart-svg' });
  root.append(svg('line', { x1: pad, y1: H, x2: W - pad, y2: H, stroke: '#dde1e8' }));
  const label = svg('text', { x: 2, y: 12, 'font-size': 11, fill: '#687080' });
  label.textContent = String(max);
  root.append(label);
  data.days.forEach((d, i) => {
    let y = H;
    for (const [name, f, color] of groups) {
      const v = f(d);
      if (!v) continue;
      const hgt = (v / max) * (H - 20);
      y -= hgt;
      const r = svg('rect', { x: pad + i * bw + 2, y, width: Math.max(1, bw - 4), height: hgt, fill: color, 'data-day': d.day, 'data-outcome': name });
      const t = svg('title', {});
      t.textContent = `${d.day}: ${v} ${name}`;
      r.append(t);
      root.append(r);
    }
    if (n <= 16 || i % 2 === 0) {
      const tx = svg('text', { x: pad + i * bw + bw / 2, y: H + 14, 'font-size': 10, 'text-anchor': 'middle', fill: '#687080' });
      tx.textContent = d.day.slice(5);
      root.append(tx);
    }
  });
  const legend = h('div', { class: 'legend' }, ['stored', 'fetched', 'failed', 'progress', 'created'].map((k) =>
    h('span', {}, h('i', { class: k }), { progress: 'in progress', created: 'not answered (yet)' }[k] || k)));
  el.replaceChildren(root, legend, data.complete ? '' : h('p', { class: 'muted' }, 'Drawn from the newest ' + data.examined + ' intakes.'));
}

// ---- start -----------------------------------------------------------------------------------

function start() {
  // #token=... opens the console signed in (scripts, bookmarks kept private); the token leaves
  // the address bar and history at once.
  const m = location.hash.match(/^#token=(.+)$/);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  $('#signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('#token').value.trim());
    $('#token').value = '';
    render();
  });
  $('#sign-out').addEventListener('click', () => { sessionStorage.removeItem(TOKEN_KEY); render(); });
  document.addEventListener('click', (e) => {
    const a = e.target.closest('a[data-link]');
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    e.stopPropagation();
    navigate(a.getAttribute('href'));
  });
  window.addEventListener('popstate', render);
  render();
}

document.addEventListener('DOMContentLoaded', start);
