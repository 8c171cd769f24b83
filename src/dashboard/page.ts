/**
 * The dashboard's single page: no build step, no dependency. It subscribes to `/events`
 * (server-sent events) and redraws on every snapshot; the only timer it runs re-renders the
 * "held for" / "waiting for" durations locally, it never asks the server.
 * @module
 */

export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Baton dashboard</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1b1f24; background: #f6f7f9; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
  #state { font-size: .85rem; color: #57606a; margin-bottom: 1rem; }
  #state.down { color: #b42318; font-weight: 600; }
  section { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; margin: 0 0 1rem; padding: .6rem .9rem; }
  h2 { font-size: 1rem; margin: .2rem 0 .5rem; }
  .kind { font-weight: 400; color: #57606a; font-size: .85rem; margin-left: .4rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .2rem .5rem; border-top: 1px solid #eaeef2; font-variant-numeric: tabular-nums; }
  th { color: #57606a; font-weight: 500; border-top: none; }
  td.key { font-family: ui-monospace, monospace; font-size: .8rem; color: #57606a; }
  tr.holding td.state { color: #1a7f37; font-weight: 600; }
  tr.waiting td.state { color: #9a6700; }
  .empty { color: #57606a; }
</style>
</head>
<body>
<h1>Baton <span id="where"></span></h1>
<div id="state">connecting…</div>
<main id="names"></main>
<h2>Sessions</h2>
<section><table id="sessions"><thead><tr><th>session</th><th>keys</th><th>time left</th></tr></thead><tbody></tbody></table></section>
<script>
const names = document.getElementById('names');
const state = document.getElementById('state');
let snapshot;
let receivedAt = 0;

function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? s + ' s' : s < 3600 ? Math.floor(s / 60) + ' min ' + (s % 60) + ' s' : Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function render() {
  if (!snapshot) return;
  const now = snapshot.at + (Date.now() - receivedAt);
  document.getElementById('where').textContent = '· ' + snapshot.backend + (snapshot.prefix ? ' · ' + snapshot.prefix : '');
  names.replaceChildren();
  if (snapshot.names.length === 0) {
    const p = document.createElement('p');
    p.className = 'empty';
    p.textContent = 'Nobody holds or waits for anything under this prefix.';
    names.append(p);
  }
  for (const entry of snapshot.names) {
    const section = document.createElement('section');
    section.dataset.name = entry.name;
    const h2 = document.createElement('h2');
    h2.textContent = entry.name;
    const kind = document.createElement('span');
    kind.className = 'kind';
    kind.textContent = entry.kind + (entry.leader !== undefined ? ' · leader: ' + entry.leader : '') +
      (entry.ready !== undefined ? (entry.ready ? ' · all arrived' : ' · waiting for the rest') : '');
    h2.append(kind);
    const table = document.createElement('table');
    const head = table.createTHead().insertRow();
    for (const title of ['', 'state', 'token', 'for', 'value', 'session', 'key']) {
      const th = document.createElement('th');
      th.textContent = title;
      head.append(th);
    }
    const body = table.createTBody();
    // A double barrier's members, in the order they entered: all waiting, or all through.
    const rows = entry.members
      ? entry.members.map((m) => [entry.ready ? 'holding' : 'waiting', m])
      : [...entry.holders.map((m) => ['holding', m]), ...entry.waiters.map((m) => ['waiting', m])];
    rows.forEach(([what, m], i) => {
      const row = body.insertRow();
      row.className = what;
      row.dataset.key = m.key;
      const position = entry.members ? 'entered ' + (i + 1) : what === 'holding' ? 'holds' : '#' + (i - entry.holders.length);
      cell(row, position, 'position');
      cell(row, entry.members ? (entry.ready ? 'through' : 'waiting') : what === 'holding' ? (m.role === 'read' ? 'reading' : 'holding') : 'waiting', 'state');
      cell(row, m.token, 'token');
      cell(row, duration(now - m.since) + (m.sinceCreated ? '' : ' (seen)'), 'for');
      cell(row, m.value, 'value');
      cell(row, m.session ?? '', 'session');
      cell(row, m.key, 'key');
    });
    section.append(h2, table);
    names.append(section);
  }
  const sessions = document.querySelector('#sessions tbody');
  sessions.replaceChildren();
  for (const s of snapshot.sessions) {
    const row = sessions.insertRow();
    cell(row, s.id);
    cell(row, String(s.keys));
    cell(row, s.remainingMs === undefined || s.remainingMs === null ? 'kept alive by its client' : duration(s.remainingMs - (Date.now() - receivedAt)));
  }
}

const events = new EventSource('events');
events.addEventListener('snapshot', (event) => {
  snapshot = JSON.parse(event.data);
  receivedAt = Date.now();
  state.className = '';
  state.textContent = 'live · updated ' + new Date(snapshot.at).toLocaleTimeString();
  render();
});
events.addEventListener('trouble', (event) => {
  state.className = 'down';
  state.textContent = 'out of contact with the backend: ' + JSON.parse(event.data).message + ' (showing the last state seen)';
});
events.onerror = () => {
  state.className = 'down';
  state.textContent = 'the dashboard server is gone; retrying…';
};
setInterval(render, 1000);
</script>
</body>
</html>
`;
