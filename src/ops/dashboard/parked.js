// Parked events per consumer and per stream (in stream order: what waits behind what), with their error and
// attempts, and retry and skip of one or many. Relay-parked events below.

import { api, query } from './api.js';
import { action, h, json, link, notify, show, table, when } from './dom.js';

const ACTIVE = 'parked,retrying';

function groupByStream(rows) {
  const groups = new Map();
  for (const r of rows) {
    const key = `${r.consumer}\u0000${r.stream}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  for (const list of groups.values()) list.sort((a, b) => a.streamPosition - b.streamPosition);
  return [...groups.values()];
}

async function details(row, cell) {
  const p = await api(`parked/${encodeURIComponent(row.id)}`);
  show(
    cell,
    h('div', { class: 'detail' }, h('strong', {}, 'error '), p.errorCode ?? '', ' ', p.error),
    p.stack ? h('details', {}, h('summary', {}, 'stack'), h('pre', {}, p.stack)) : null,
    h('div', {}, h('strong', {}, 'data')),
    json(p.data, { 'data-testid': 'parked-data' }),
    h('div', {}, h('strong', {}, 'metadata')),
    json(p.metadata),
  );
}

function parkedTable(rows, selected, refresh) {
  const body = [];
  for (const group of groupByStream(rows)) {
    const [first] = group;
    body.push(
      h(
        'tr',
        { class: 'group' },
        h(
          'td',
          { colspan: 9 },
          first.consumer,
          ' · stream ',
          link(first.stream, 'streams', first.stream),
          ` · ${group.length} waiting in order`,
        ),
      ),
    );
    for (const r of group) {
      const box = h('input', {
        type: 'checkbox',
        'aria-label': `select ${r.id}`,
        checked: selected.has(r.id),
      });
      box.addEventListener('change', () => (box.checked ? selected.add(r.id) : selected.delete(r.id)));
      const detail = h('td', { colspan: 9 });
      const detailRow = h('tr', { class: 'detail-row', hidden: true }, detail);
      const one = (verb, body) => async () => {
        await api(`parked/${encodeURIComponent(r.id)}/${verb}`, { method: 'POST', body });
        notify(`${verb === 'retry' ? 'Asked to retry' : 'Skipped'} parked event #${r.id}.`);
        await refresh();
      };
      body.push(
        h(
          'tr',
          { 'data-parked': r.id },
          h('td', {}, box),
          h('td', {}, `#${r.id}`),
          h('td', {}, `${r.streamPosition}`),
          h('td', {}, r.eventType),
          h('td', { class: `state ${r.status}` }, r.status),
          h('td', {}, String(r.attempts)),
          h('td', { class: 'error-text' }, r.error),
          h('td', {}, when(r.parkedAt ?? r.lastFailedAt)),
          h(
            'td',
            { class: 'actions' },
            action('Show', async () => {
              detailRow.hidden = !detailRow.hidden;
              if (!detailRow.hidden) await details(r, detail);
            }),
            action('Retry', one('retry', {})),
            action('Skip', one('skip', { reason: 'skipped from the dashboard' })),
          ),
        ),
        detailRow,
      );
    }
  }
  return table(['', 'id', 'position', 'type', 'status', 'attempts', 'error', 'parked at', ''], body, {
    'data-testid': 'parked',
  });
}

export function render(root, params, state) {
  const consumer = params[0] ?? '';
  const selected = new Set();
  const list = h('div');
  const relays = h('div');
  const refresh = async () => {
    const rows = await api(`parked${query({ consumer, status: ACTIVE, limit: 1000 })}`);
    for (const id of selected) if (!rows.some((r) => r.id === id)) selected.delete(id);
    show(list, parkedTable(rows, selected, refresh));
    const relayRows = await api(`relay-parked${query({ status: 'parked,held,retry,skip' })}`);
    show(
      relays,
      table(
        ['id', 'relay', 'stream', 'position', 'type', 'status', 'error', ''],
        relayRows.map((r) => [
          `#${r.id}`,
          r.relay,
          r.stream,
          String(r.streamPosition ?? ''),
          r.eventType ?? '',
          r.status,
          r.error ?? '',
          r.status === 'parked'
            ? [
                action('Retry', async () => {
                  await api(`relay-parked/${encodeURIComponent(r.id)}/retry`, { method: 'POST', body: {} });
                  await refresh();
                }),
                action('Skip', async () => {
                  await api(`relay-parked/${encodeURIComponent(r.id)}/skip`, {
                    method: 'POST',
                    body: { reason: 'skipped from the dashboard' },
                  });
                  await refresh();
                }),
              ]
            : '',
        ]),
      ),
    );
  };
  const bulk = (verb) => async () => {
    if (selected.size === 0 && consumer === '')
      return notify('Select parked events first, or open one consumer.', true);
    const target = selected.size > 0 ? { ids: [...selected] } : { consumer };
    const result = await api(`parked/${verb}`, {
      method: 'POST',
      body: { ...target, reason: 'bulk from the dashboard' },
    });
    notify(
      `${verb === 'retry' ? 'Retry asked for' : 'Skipped'} ${result.done.length} event(s)${result.failed.length > 0 ? `, ${result.failed.length} refused: ${result.failed.map((f) => `#${f.id} ${f.code}`).join(', ')}` : ''}.`,
    );
    selected.clear();
    await refresh();
  };
  const consumers = (state.latest()?.consumers ?? []).map((c) => c.name);
  const picker = h(
    'select',
    { 'aria-label': 'consumer' },
    h('option', { value: '' }, 'all consumers'),
    consumers.map((n) => h('option', { value: n, selected: n === consumer }, n)),
  );
  picker.addEventListener(
    'change',
    () => (location.hash = picker.value === '' ? '#/parked' : `#/parked/${encodeURIComponent(picker.value)}`),
  );
  show(
    root,
    h('h1', {}, consumer === '' ? 'Parked events' : `Parked events of ${consumer}`),
    h(
      'div',
      { class: 'toolbar' },
      picker,
      action('Retry selected (or all shown)', bulk('retry')),
      action('Skip selected (or all shown)', bulk('skip')),
    ),
    list,
    h('h2', {}, 'Relay-parked events'),
    relays,
  );
  refresh().catch((e) => notify(e.message, true));
  let last = -1;
  return state.subscribe((o) => {
    const count =
      o.parked.consumers +
      o.parked.projections +
      o.parked.relays +
      o.consumers.reduce((n, c) => n + c.retrying, 0);
    if (count !== last) {
      last = count;
      refresh().catch((e) => notify(e.message, true));
    }
  });
}
