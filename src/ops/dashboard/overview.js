// Overview: health, backlog, lag, rates, parked counts, the oldest transaction, small live charts, and cards that
// call out what needs attention.

import { duration, h, link, show, sparkline, table, when } from './dom.js';

/** An open transaction older than this is called out: every log reader waits behind it. */
const LONG_TRANSACTION_SECONDS = 60;
/** Overviews compared to call a backlog growing or a consumer stalled. */
const TREND = 5;

const sum = (xs, f) => xs.reduce((n, x) => n + f(x), 0);
const backlog = (o) => sum(o.relays, (r) => r.backlogEvents);
const lag = (o) => sum(o.consumers, (c) => c.eventsBehind) + sum(o.projections, (p) => p.eventsBehind);
const parkedTotal = (o) => o.parked.consumers + o.parked.projections + o.parked.relays;

/** Events per second between consecutive overviews, from a counter read off each. */
function rates(history, counter) {
  const out = [];
  for (let i = 1; i < history.length; i++) {
    const dt = (history[i].at - history[i - 1].at) / 1000;
    out.push(
      dt > 0 ? Math.max(0, (counter(history[i].overview) - counter(history[i - 1].overview)) / dt) : 0,
    );
  }
  return out;
}

const rising = (values) =>
  values.length >= TREND && values.slice(-TREND).every((v, i, a) => i === 0 || v > a[i - 1]);

/** What needs an operator, most urgent first. */
export function attention(history) {
  const o = history.at(-1).overview;
  const recent = history.slice(-TREND).map((s) => s.overview);
  const cards = [];
  for (const c of o.consumers) {
    if (c.breaker === 'open')
      cards.push([
        'open breaker',
        `${c.name}: retry-storm breaker open, the consumer is paused`,
        'consumers',
      ]);
    if (c.parked > 0)
      cards.push(['parked', `${c.name}: ${c.parked} parked event(s), streams wait behind them`, 'parked']);
    const lags = recent.map((r) => r.consumers.find((x) => x.name === c.name)?.eventsBehind ?? 0);
    const stalled =
      c.eventsBehind > 0 && (c.workers === 0 || (lags.length >= TREND && lags.every((v) => v >= lags[0])));
    if (stalled) {
      const why = c.workers === 0 ? 'no live worker runs it' : 'its lag has not fallen';
      cards.push(['stalled consumer', `${c.name}: ${c.eventsBehind} events behind and ${why}`, 'consumers']);
    }
  }
  for (const p of o.projections) {
    if (p.failure !== null) {
      cards.push([
        'stalled projection',
        `${p.name} v${p.version}: stopped at a ${p.failure.status} event of ${p.failure.stream}`,
        'consumers',
      ]);
    }
  }
  if (rising(history.map((s) => backlog(s.overview))))
    cards.push([
      'growing backlog',
      `the outbox backlog grew ${TREND} times in a row: ${backlog(o)} events`,
      'overview',
    ]);
  for (const r of o.relays)
    if (r.parked > 0)
      cards.push(['relay parked', `${r.name}: ${r.parked} event(s) the bus refused`, 'parked']);
  if (o.oldestTransactionAgeSeconds > LONG_TRANSACTION_SECONDS) {
    cards.push([
      'long transaction',
      `a transaction has been open for ${duration(o.oldestTransactionAgeSeconds)}; log readers wait behind it`,
      'overview',
    ]);
  }
  return cards;
}

function tile(label, value, values, testid) {
  return h(
    'div',
    { class: 'tile', 'data-testid': testid },
    h('div', { class: 'label' }, label),
    h('div', { class: 'value' }, value),
    sparkline(values, label),
  );
}

function draw(root, history) {
  const o = history.at(-1).overview;
  const series = (f) => history.map((s) => f(s.overview));
  const appendRate = rates(history, (x) => Number(x.head.globalPosition));
  const publishRate = rates(history, (x) => sum(x.relays, (r) => r.published));
  const cards = attention(history);
  show(
    root,
    h('h1', {}, 'Overview'),
    h(
      'p',
      { class: 'muted' },
      `schema ${o.schema} · head ${o.head.checkpoint} · last event ${when(o.head.recordedAt)}`,
    ),
    h(
      'section',
      { class: 'cards', 'data-testid': 'attention' },
      cards.length === 0
        ? h('div', { class: 'card ok' }, 'Nothing needs attention.')
        : cards.map(([kind, text, view]) =>
            h('a', { class: 'card warn', href: `#/${view}` }, h('strong', {}, kind), ' ', text),
          ),
    ),
    h(
      'section',
      { class: 'tiles' },
      tile('outbox backlog', `${backlog(o)} events`, series(backlog), 'backlog'),
      tile('consumer and projection lag', `${lag(o)} events`, series(lag), 'lag'),
      tile('appended', `${(appendRate.at(-1) ?? 0).toFixed(1)} /s`, appendRate, 'append-rate'),
      tile('published', `${(publishRate.at(-1) ?? 0).toFixed(1)} /s`, publishRate, 'publish-rate'),
      tile('parked', String(parkedTotal(o)), series(parkedTotal), 'parked-total'),
      tile(
        'oldest transaction',
        duration(o.oldestTransactionAgeSeconds),
        series((x) => x.oldestTransactionAgeSeconds),
        'oldest-tx',
      ),
    ),
    h('h2', {}, 'Consumers'),
    table(
      ['consumer', 'state', 'breaker', 'behind', 'lag', 'parked', 'workers'],
      o.consumers.map((c) => [
        link(c.name, 'consumers'),
        c.state,
        c.breaker ?? '—',
        c.eventsBehind,
        duration(c.secondsBehind),
        c.parked,
        c.workers,
      ]),
      { 'data-testid': 'overview-consumers' },
    ),
    h('h2', {}, 'Relays'),
    table(
      ['relay', 'leased', 'backlog', 'oldest unpublished', 'published', 'parked', 'held'],
      o.relays.map((r) => [
        r.name,
        r.leased ? 'yes' : 'no',
        r.backlogEvents,
        duration(r.oldestUnpublishedAgeSeconds),
        r.published,
        r.parked,
        r.held,
      ]),
    ),
  );
}

export function render(root, _params, state) {
  const redraw = () =>
    state.history.length === 0
      ? show(root, h('p', {}, 'Waiting for the first update…'))
      : draw(root, state.history);
  redraw();
  return state.subscribe(redraw);
}
