// Consumers and projections: lag, state, breaker and live workers, with their actions.

import { api } from './api.js';
import { action, duration, h, link, notify, show, table } from './dom.js';

/** A consumer's partitions: checkpoint, owning worker and its last lease renewal. */
function partitions(name, cell) {
  api(`consumers/${encodeURIComponent(name)}/partitions`)
    .then((rows) =>
      show(
        cell,
        table(
          ['partition', 'group', 'owner', 'renewed', 'checkpoint'],
          rows.map((p) => [
            String(p.partition),
            p.group ?? '—',
            p.owner ?? 'nobody',
            p.heartbeatAgeSeconds === null ? '—' : `${duration(p.heartbeatAgeSeconds)} ago`,
            p.checkpoint ?? '—',
          ]),
          { 'data-testid': 'partitions' },
        ),
      ),
    )
    .catch((e) => notify(e.message, true));
}

function consumerRows(c, expanded) {
  const detail = h('td', { colspan: 10 });
  const detailRow = h('tr', { class: 'detail-row', hidden: !expanded.has(c.name) }, detail);
  if (expanded.has(c.name)) partitions(c.name, detail);
  const toggle = h('button', { type: 'button' }, 'Partitions');
  toggle.addEventListener('click', () => {
    if (expanded.delete(c.name)) detailRow.hidden = true;
    else {
      expanded.add(c.name);
      detailRow.hidden = false;
      partitions(c.name, detail);
    }
  });
  return [consumerRow(c, toggle), detailRow];
}

function consumerRow(c, toggle) {
  return h(
    'tr',
    { 'data-consumer': c.name },
    h('td', {}, c.name),
    h('td', { class: `state ${c.state}` }, c.state),
    h('td', {}, c.breaker ?? '—'),
    h('td', { 'data-testid': 'lag-events' }, String(c.eventsBehind)),
    h('td', {}, duration(c.secondsBehind)),
    h('td', {}, String(c.retrying)),
    h('td', {}, c.parked > 0 ? link(String(c.parked), 'parked', c.name) : '0'),
    h('td', {}, duration(c.oldestParkedAgeSeconds)),
    h('td', {}, String(c.workers)),
    h(
      'td',
      { class: 'actions' },
      toggle,
      c.parked > 0
        ? action('Retry all parked', async () => {
            const done = await api('parked/retry', { method: 'POST', body: { consumer: c.name } });
            notify(
              `Asked to retry ${done.done.length} parked event(s) of ${c.name}${done.failed.length > 0 ? `; ${done.failed.length} refused` : ''}.`,
            );
          })
        : null,
    ),
  );
}

function projectionRow(p) {
  const key = encodeURIComponent(p.name);
  return h(
    'tr',
    { 'data-projection': `${p.name}@v${p.version}` },
    h('td', {}, p.name),
    h('td', {}, `v${p.version}`),
    h('td', {}, p.status),
    h('td', {}, p.mode),
    h('td', {}, String(p.eventsBehind)),
    h('td', {}, duration(p.secondsBehind)),
    h(
      'td',
      {},
      p.failure === null
        ? '—'
        : [
            link(`${p.failure.status} #${p.failure.id}`, 'parked', `${p.name}@v${p.version}`),
            ` at ${p.failure.stream}:${p.failure.streamPosition}`,
          ],
    ),
    h('td', {}, String(p.parked)),
    h(
      'td',
      {},
      p.failure === null
        ? null
        : [
            action('Retry', async () => {
              await api(`projections/${key}/retry`, { method: 'POST', body: {} });
              notify(`Asked ${p.name} to retry its failing event.`);
            }),
            action('Skip', async () => {
              await api(`projections/${key}/skip`, {
                method: 'POST',
                body: { reason: 'skipped from the dashboard' },
              });
              notify(`Skipped the failing event of ${p.name}.`);
            }),
          ],
    ),
  );
}

function draw(root, o, expanded) {
  show(
    root,
    h('h1', {}, 'Consumers and projections'),
    h(
      'p',
      { class: 'muted' },
      'State: stopped (no live worker), paused (a breaker is open), blocked (streams wait behind parked events), running.',
    ),
    h('h2', {}, 'Consumers'),
    table(
      ['consumer', 'state', 'breaker', 'behind', 'lag', 'retrying', 'parked', 'oldest parked', 'workers', ''],
      o.consumers.flatMap((c) => consumerRows(c, expanded)),
      { 'data-testid': 'consumers' },
    ),
    h('h2', {}, 'Projections'),
    table(
      ['projection', 'version', 'status', 'mode', 'behind', 'lag', 'stopped at', 'parked', ''],
      o.projections.map(projectionRow),
      {
        'data-testid': 'projections',
      },
    ),
  );
}

export function render(root, _params, state) {
  const expanded = new Set();
  const latest = state.latest();
  if (latest === undefined) show(root, h('p', {}, 'Waiting for the first update…'));
  else draw(root, latest, expanded);
  return state.subscribe((o) => draw(root, o, expanded));
}
