// The dashboard's pages, built from the JSON API with the DOM API only: every name, tag and value comes from a
// device and is set with textContent, never parsed as HTML. No framework, no build step.

const view = document.getElementById('view');
/** What tests and the curious can inspect: the last history answer and the plot. */
const state = { me: null, lastHistory: null, plot: null, rendered: 0 };
window.__dashboard = state;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'text') node.textContent = v;
    else if (k in node && typeof v !== 'string') node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c); // strings become text nodes
  return node;
}

async function api(path, options = {}) {
  const headers = { ...(options.headers ?? {}) };
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    headers['X-CSRF-Token'] = state.me?.csrf ?? '';
  }
  const res = await fetch(path, {
    ...options,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  if (res.status === 401) {
    location.assign('/login');
    throw new Error('logged out');
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok)
    throw Object.assign(new Error(body.error ?? `HTTP ${res.status}`), { status: res.status, body });
  return body;
}

const pad = (n) => String(n).padStart(2, '0');
function formatTime(ms) {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
const thingPath = (jid) => `/thing/${encodeURIComponent(jid)}`;
const valueText = (r) => (r.unit ? `${r.value} ${r.unit}` : r.value);
const fieldKey = (r) => `${r.node}/${r.field}`;

// ---- live updates (SSE) ----
const liveListeners = new Set();
function connectEvents() {
  const source = new EventSource('/api/events');
  const dot = document.getElementById('live');
  source.addEventListener('open', () => dot.classList.add('on'));
  source.addEventListener('error', () => dot.classList.remove('on'));
  source.addEventListener('readings', (e) => {
    const readings = JSON.parse(e.data);
    for (const l of liveListeners) l({ kind: 'readings', readings });
  });
  source.addEventListener('presence', (e) => {
    const p = JSON.parse(e.data);
    for (const l of liveListeners) l({ kind: 'presence', ...p });
  });
}

// ---- fleet page ----
function availability(online) {
  return el('span', { class: online ? 'online' : 'offline', text: online ? 'online' : 'offline' });
}

function latestList(latest) {
  const ul = el('ul', { class: 'latest' });
  for (const r of latest.slice(0, 8))
    ul.append(
      el('li', { 'data-field': fieldKey(r) }, el('span', { class: 'k', text: `${r.field}: ` }), valueText(r)),
    );
  if (latest.length > 8) ul.append(el('li', { class: 'more', text: `+${latest.length - 8} more` }));
  return ul;
}

async function fleetPage() {
  const { things } = await api('/api/things');
  const filter = el('input', {
    id: 'tag-filter',
    type: 'search',
    placeholder: 'filter by tag: ROOM=hall or ROOM',
  });
  const tbody = el('tbody');
  const rows = new Map();
  for (const t of things) {
    const tags = el('td', { class: 'tags' });
    for (const tag of t.tags)
      tags.append(el('span', { class: 'tag', text: `${tag.name}=${tag.value}` }), ' ');
    const row = el(
      'tr',
      { 'data-jid': t.jid },
      el(
        'td',
        {},
        el('a', { href: thingPath(t.jid), text: t.name }),
        el('div', { class: 'jid', text: t.jid }),
      ),
      tags,
      el('td', { class: 'availability' }, availability(t.online)),
      el('td', { class: 'last-seen', text: formatTime(t.lastSeen) }),
      el('td', { class: 'values' }, latestList(t.latest)),
    );
    rows.set(t.jid, { row, thing: t });
    tbody.append(row);
  }
  const count = el('span', { class: 'count', text: `${things.length} things` });
  const apply = () => {
    const q = filter.value.trim();
    const [name, value] = q.includes('=')
      ? [q.slice(0, q.indexOf('=')), q.slice(q.indexOf('=') + 1)]
      : [q, undefined];
    let shown = 0;
    for (const { row, thing } of rows.values()) {
      const match =
        !q ||
        thing.tags.some(
          (t) => t.name.toLowerCase() === name.toLowerCase() && (value === undefined || t.value === value),
        );
      row.hidden = !match;
      if (match) shown++;
    }
    count.textContent = q ? `${shown} of ${things.length} things` : `${things.length} things`;
  };
  filter.addEventListener('input', apply);
  liveListeners.clear();
  liveListeners.add((e) => {
    if (e.kind === 'presence') {
      const r = rows.get(e.jid);
      if (r) r.row.querySelector('.availability').replaceChildren(availability(e.online));
      return;
    }
    const touched = new Set();
    for (const reading of e.readings) {
      const r = rows.get(reading.thing);
      if (!r) continue;
      const i = r.thing.latest.findIndex((x) => fieldKey(x) === fieldKey(reading));
      if (i < 0) r.thing.latest.push(reading);
      else if (r.thing.latest[i].timestamp <= reading.timestamp) r.thing.latest[i] = reading;
      r.thing.lastSeen = Math.max(r.thing.lastSeen ?? 0, reading.timestamp);
      touched.add(reading.thing);
    }
    for (const jid of touched) {
      const r = rows.get(jid);
      r.row.querySelector('.last-seen').textContent = formatTime(r.thing.lastSeen);
      r.row.querySelector('.values').replaceChildren(latestList(r.thing.latest));
    }
  });
  view.replaceChildren(
    el('h1', { text: 'Fleet' }),
    el('div', { class: 'toolbar' }, filter, count),
    el(
      'table',
      { class: 'fleet' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ...['Thing', 'Tags', 'Availability', 'Last seen', 'Latest values'].map((h) =>
            el('th', { text: h }),
          ),
        ),
      ),
      tbody,
    ),
  );
  state.rendered++;
}

// ---- thing page ----
function valuesTable(latest) {
  const tbody = el('tbody');
  for (const r of latest)
    tbody.append(
      el(
        'tr',
        { 'data-field': fieldKey(r) },
        el('td', { text: r.node }),
        el('td', { text: r.field }),
        el('td', { class: 'value', text: r.value }),
        el('td', { class: 'unit', text: r.unit ?? '' }),
        el('td', { class: 'qos', text: (r.qos.length ? r.qos : ['automaticReadout']).join(', ') }),
        el('td', { class: 'time', text: formatTime(r.timestamp) }),
      ),
    );
  return el(
    'table',
    { class: 'values' },
    el(
      'thead',
      {},
      el('tr', {}, ...['Node', 'Field', 'Value', 'Unit', 'QoS', 'Time'].map((h) => el('th', { text: h }))),
    ),
    tbody,
  );
}

const toLocalInput = (ms) => {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
};

function plotSection(thing) {
  const plottable = thing.latest.filter(
    (r) => r.type === 'numeric' || r.type === 'int' || r.type === 'long' || r.type === 'boolean',
  );
  if (plottable.length === 0) return el('p', { class: 'muted', text: 'No numeric fields to plot yet.' });
  const select = el('select', { id: 'plot-field' });
  for (const r of plottable)
    select.append(el('option', { value: fieldKey(r), text: `${r.node} · ${r.field}` }));
  const now = Date.now();
  const fromInput = el('input', {
    id: 'plot-from',
    type: 'datetime-local',
    value: toLocalInput(now - 24 * 3600_000),
  });
  const toInput = el('input', { id: 'plot-to', type: 'datetime-local', value: toLocalInput(now + 60_000) });
  const status = el('span', { id: 'plot-status', class: 'muted' });
  const box = el('div', { id: 'plot' });
  let range = { from: now - 24 * 3600_000, to: now + 60_000 };

  async function load(from, to) {
    range = { from: Math.floor(from), to: Math.ceil(to) };
    const [node, ...rest] = select.value.split('/');
    const field = rest.join('/');
    const points = Math.max(50, Math.min(5000, Math.round(box.clientWidth || 800)));
    const q = new URLSearchParams({
      node,
      field,
      from: String(range.from),
      to: String(range.to),
      points: String(points),
    });
    status.textContent = 'loading…';
    const h = await api(`/api/things/${encodeURIComponent(thing.jid)}/history?${q}`);
    state.lastHistory = h;
    status.textContent = `${h.points.length} ${h.mode === 'raw' ? 'stored points' : 'min/max buckets'} · ${formatTime(h.from)} → ${formatTime(h.to)}`;
    draw(h);
  }

  function draw(h) {
    const xs = h.points.map((p) => p[0] / 1000);
    const data = [xs, h.points.map((p) => p[3]), h.points.map((p) => p[1]), h.points.map((p) => p[2])];
    const label = h.unit ? `${h.field} (${h.unit})` : h.field;
    if (state.plot) state.plot.destroy();
    state.plot = new uPlot(
      {
        width: Math.max(300, box.clientWidth || 800),
        height: 300,
        scales: { x: { time: true, min: h.from / 1000, max: h.to / 1000 } },
        series: [
          {},
          { label, stroke: '#1f6feb', width: 2, points: { show: h.mode === 'raw' } },
          { label: 'min', stroke: '#8bb4f7', width: 1, show: h.mode !== 'raw' },
          { label: 'max', stroke: '#8bb4f7', width: 1, show: h.mode !== 'raw' },
        ],
        hooks: {
          // Zoom: a selection asks the server for that range, downsampled to the plot's width.
          setSelect: [
            (u) => {
              if (u.select.width < 2) return;
              const from = u.posToVal(u.select.left, 'x') * 1000;
              const to = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
              u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
              fromInput.value = toLocalInput(from);
              toInput.value = toLocalInput(to);
              load(from, to).catch((err) => (status.textContent = err.message));
            },
          ],
        },
        cursor: { drag: { x: true, y: false, setScale: false } },
      },
      data,
      box,
    );
  }

  const show = () => {
    const from = new Date(fromInput.value).getTime();
    const to = new Date(toInput.value).getTime();
    load(from, to).catch((err) => (status.textContent = err.message));
  };
  const preset = (ms, text) =>
    el('button', {
      type: 'button',
      text,
      onclick: () => {
        const t = Date.now() + 60_000;
        fromInput.value = toLocalInput(t - ms);
        toInput.value = toLocalInput(t);
        load(t - ms, t).catch((err) => (status.textContent = err.message));
      },
    });
  select.addEventListener('change', show);
  const section = el(
    'section',
    { class: 'plot' },
    el('h2', { text: 'History' }),
    el(
      'div',
      { class: 'toolbar' },
      select,
      el('label', {}, 'from ', fromInput),
      el('label', {}, 'to ', toInput),
      el('button', { id: 'plot-show', type: 'button', text: 'Show', onclick: show }),
      preset(3600_000, '1 h'),
      preset(24 * 3600_000, '24 h'),
      preset(7 * 24 * 3600_000, '7 days'),
      status,
    ),
    box,
    el('p', {
      class: 'muted',
      text: 'Drag across the plot to zoom: the hub sends that range at the plot’s resolution.',
    }),
  );
  return {
    section,
    start: () => load(range.from, range.to).catch((err) => (status.textContent = err.message)),
    live(reading) {
      // A new reading of the plotted field inside the shown range joins the plot.
      if (!state.lastHistory || state.lastHistory.mode !== 'raw' || fieldKey(reading) !== select.value)
        return;
      if (reading.timestamp < range.from || reading.timestamp > range.to) return;
      const v = reading.type === 'boolean' ? (reading.value === 'true' ? 1 : 0) : Number(reading.value);
      if (!Number.isFinite(v)) return;
      const pts = state.lastHistory.points.filter((p) => p[0] !== reading.timestamp);
      pts.push([reading.timestamp, v, v, v]);
      pts.sort((a, b) => a[0] - b[0]);
      state.lastHistory = { ...state.lastHistory, points: pts };
      draw(state.lastHistory);
    },
  };
}

function controlInput(f) {
  const attrs = { name: f.var, 'data-param': f.var };
  if (f.datatype === 'xs:boolean' || f.type === 'boolean') {
    return el('input', { ...attrs, type: 'checkbox', checked: f.value === 'true' || f.value === '1' });
  }
  if (f.options.length) {
    const s = el('select', attrs);
    for (const o of f.options) s.append(el('option', { value: o, text: o, selected: o === f.value }));
    return s;
  }
  const numeric = ['xs:int', 'xs:long', 'xs:double', 'xs:integer', 'xs:decimal'].includes(f.datatype);
  return el('input', {
    ...attrs,
    type: numeric ? 'number' : 'text',
    step: f.datatype === 'xs:double' ? 'any' : undefined,
    min: f.min,
    max: f.max,
    value: f.value ?? '',
  });
}

async function controlPanel(thing, node) {
  const box = el('div', { class: 'control', 'data-node': node }, el('h3', { text: node }));
  let form;
  try {
    form = await api(`/api/things/${encodeURIComponent(thing.jid)}/control?node=${encodeURIComponent(node)}`);
  } catch (err) {
    box.append(el('p', { class: 'muted', text: `No controls (${err.message}).` }));
    return box;
  }
  const initial = new Map();
  const f = el('form');
  for (const field of form.fields) {
    const input = controlInput(field);
    initial.set(field.var, input.type === 'checkbox' ? String(input.checked) : input.value);
    const range =
      field.min !== undefined || field.max !== undefined ? ` (${field.min ?? ''}…${field.max ?? ''})` : '';
    f.append(el('label', {}, el('span', { text: `${field.label ?? field.var}${range}` }), input));
  }
  const status = el('span', { class: 'status', role: 'status' });
  f.append(el('button', { type: 'submit', text: 'Apply' }), status);
  f.addEventListener('submit', async (event) => {
    event.preventDefault();
    const values = {};
    for (const input of f.querySelectorAll('[data-param]')) {
      const v = input.type === 'checkbox' ? String(input.checked) : input.value;
      if (v !== initial.get(input.dataset.param)) values[input.dataset.param] = v;
    }
    if (Object.keys(values).length === 0) {
      status.textContent = 'nothing changed';
      return;
    }
    status.textContent = 'sending…';
    try {
      await api(`/api/things/${encodeURIComponent(thing.jid)}/control`, {
        method: 'POST',
        body: { node, values },
      });
      for (const [k, v] of Object.entries(values)) initial.set(k, v);
      status.textContent = 'applied';
    } catch (err) {
      const params = err.body?.params
        ? Object.entries(err.body.params)
            .map(([k, v]) => `${k}: ${v}`)
            .join('; ')
        : '';
      status.textContent = `refused: ${err.message}${params ? ` (${params})` : ''}`;
    }
  });
  box.append(f);
  return box;
}

async function thingPage(jid) {
  const thing = await api(`/api/things/${encodeURIComponent(jid)}`);
  document.title = `${thing.name} · xmpp-iot dashboard`;
  const tags = el('p', { class: 'tags' });
  for (const tag of thing.tags)
    tags.append(el('span', { class: 'tag', text: `${tag.name}=${tag.value}` }), ' ');
  const status = el('span', { id: 'availability' }, availability(thing.online));
  let values = valuesTable(thing.latest);
  const valuesBox = el('section', { id: 'current' }, el('h2', { text: 'Current values' }), values);
  const plot = plotSection(thing);
  const controls = el('section', { id: 'controls' }, el('h2', { text: 'Controls' }));
  const writableNodes = [...new Set(thing.latest.filter((r) => r.writable).map((r) => r.node))];
  const nodes = writableNodes.length ? writableNodes : [...new Set(thing.latest.map((r) => r.node))];
  view.replaceChildren(
    el('p', {}, el('a', { href: '/', text: '← Fleet' })),
    el('h1', { text: thing.name }),
    el(
      'p',
      { class: 'jid' },
      thing.jid,
      ' · ',
      status,
      ' · last seen ',
      el('span', { id: 'last-seen', text: formatTime(thing.lastSeen) }),
    ),
    tags,
    valuesBox,
    plot.section ?? plot,
    controls,
  );
  liveListeners.clear();
  liveListeners.add((e) => {
    if (e.kind === 'presence') {
      if (e.jid === thing.jid) status.replaceChildren(availability(e.online));
      return;
    }
    const mine = e.readings.filter((r) => r.thing === thing.jid);
    if (!mine.length) return;
    for (const r of mine) {
      const i = thing.latest.findIndex((x) => fieldKey(x) === fieldKey(r));
      if (i < 0) thing.latest.push(r);
      else if (thing.latest[i].timestamp <= r.timestamp) thing.latest[i] = r;
      thing.lastSeen = Math.max(thing.lastSeen ?? 0, r.timestamp);
      plot.live?.(r);
    }
    const next = valuesTable(thing.latest);
    values.replaceWith(next);
    values = next;
    document.getElementById('last-seen').textContent = formatTime(thing.lastSeen);
  });
  plot.start?.();
  state.rendered++;
  for (const node of nodes) controls.append(await controlPanel(thing, node));
  state.controlsReady = true;
}

async function main() {
  state.me = await api('/api/me');
  document.getElementById('operator').textContent = state.me.operator;
  document.getElementById('logout').addEventListener('click', async () => {
    await api('/logout', { method: 'POST', body: {} }).catch(() => undefined);
    location.assign('/login');
  });
  connectEvents();
  const path = location.pathname;
  try {
    if (path.startsWith('/thing/')) await thingPage(decodeURIComponent(path.slice('/thing/'.length)));
    else await fleetPage();
  } catch (err) {
    view.replaceChildren(
      el('p', { class: 'error', text: err.status === 404 ? 'No such thing.' : err.message }),
    );
  }
}

main();
