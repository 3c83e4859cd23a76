// Replay jobs: the list with state, progress bar, rate and ETA, with pause, resume and cancel; and a form that plans
// a job (events by type, consumers touched, expected duration) and then starts it with the plan's preview token.

import { api, query } from './api.js';
import { action, duration, h, notify, show, table, when } from './dom.js';

/** How often the job list is read again. */
const REFRESH_MS = 1000;
const KINDS = ['backfill', 'rebuild', 'dry-run', 'reactor-replay'];

function field(label, input) {
  return h('label', { class: 'field' }, h('span', {}, label), input);
}

/** The form's values as the options of a plan or start; empty fields are left out. */
function options(form) {
  const v = (name) => form.elements.namedItem(name).value.trim();
  const o = { kind: v('kind'), consumer: v('consumer') };
  const types = v('types');
  if (types !== '') o.types = types.split(',').map((t) => t.trim());
  if (v('streamPrefix') !== '') o.streamPrefix = v('streamPrefix');
  if (v('from') !== '') o.from = v('from');
  if (v('to') !== '') o.to = v('to');
  // Not a number: sent as typed, so the server refuses it (NaN would travel as null, which means no limit).
  const rate = Number(v('rate'));
  if (v('rate') !== '') o.maxEventsPerSecond = Number.isFinite(rate) ? rate : v('rate');
  if (o.kind === 'reactor-replay') o.allowEffects = form.elements.namedItem('allowEffects').checked;
  return o;
}

function planView(plan, start) {
  return h(
    'div',
    { class: 'plan', 'data-testid': 'plan' },
    h(
      'p',
      {},
      `${plan.kind} of ${plan.consumer}: `,
      h('strong', { 'data-testid': 'plan-events' }, String(plan.events)),
      ` events after ${plan.from}, up to ${plan.to ?? 'the head, then following'}.`,
    ),
    table(
      ['type', 'events'],
      Object.entries(plan.byType).map(([type, n]) => [type, String(n)]),
      { 'data-testid': 'plan-types' },
    ),
    h(
      'p',
      {},
      `Touches: ${plan.touches.length === 0 ? 'nothing (dry run)' : plan.touches.join(', ')}. Expected duration: `,
      h(
        'span',
        { 'data-testid': 'plan-duration' },
        plan.expectedMs === null ? 'unknown without a rate' : duration(plan.expectedMs / 1000),
      ),
      plan.previewRequired ? '. Over the preview threshold: starting needs this plan.' : '.',
    ),
    Object.entries(plan.effects ?? {}).map(([name, e]) =>
      h(
        'p',
        {},
        `Effect ${name}: ${e.count}${plan.effectsEstimated ? ' (estimated)' : ''}, ${e.alreadyPerformed} already performed.`,
      ),
    ),
    start,
  );
}

function planForm(onStarted) {
  const result = h('div', { 'data-testid': 'plan-result' });
  const kind = h(
    'select',
    { name: 'kind' },
    KINDS.map((k) => h('option', { value: k }, k)),
  );
  const form = h(
    'form',
    { class: 'replay-form', 'data-testid': 'replay-form' },
    field('kind', kind),
    field('consumer', h('input', { name: 'consumer', required: true, placeholder: 'order_summary' })),
    field('types', h('input', { name: 'types', placeholder: 'order.paid, order.refunded' })),
    field('stream prefix', h('input', { name: 'streamPrefix', placeholder: 'order-' })),
    field('from', h('input', { name: 'from', placeholder: 'checkpoint or ISO time' })),
    field('to', h('input', { name: 'to', placeholder: 'default: the head' })),
    field('events/s', h('input', { name: 'rate', inputmode: 'decimal', placeholder: 'no limit' })),
    field('allow effects', h('input', { name: 'allowEffects', type: 'checkbox' })),
    h('button', { type: 'submit' }, 'Plan'),
  );
  // A plan holds for the options it was made with: any change asks for a new one.
  form.addEventListener('input', () => result.replaceChildren());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const planned = options(form);
    try {
      const plan = await api('replay/plan', { method: 'POST', body: planned });
      const start = action(
        'Start',
        async () => {
          const job = await api('replay/start', {
            method: 'POST',
            body: { ...planned, previewToken: plan.previewToken },
          });
          result.replaceChildren();
          notify(`Started replay job ${job.id}.`);
          onStarted();
        },
        { 'data-testid': 'start' },
      );
      show(result, planView(plan, start));
    } catch (error) {
      show(result, h('p', { class: 'error', role: 'alert' }, `${error.code}: ${error.message}`));
    }
  });
  return h('section', {}, h('h2', {}, 'Plan a job'), form, result);
}

function jobRow(job, refresh) {
  const post = (verb) => async () => {
    await api(`replay/${encodeURIComponent(job.id)}/${verb}`, { method: 'POST', body: {} });
    notify(`Asked replay job ${job.id} to ${verb}.`);
    refresh();
  };
  const open = ['queued', 'running', 'paused', 'failed'].includes(job.state);
  const total = Math.max(job.total, job.done);
  return h(
    'tr',
    { 'data-job': job.id, 'data-state': job.state },
    h('td', { title: job.id }, job.id.slice(-12)),
    h('td', {}, job.kind),
    h('td', {}, job.consumer),
    h('td', { class: `state ${job.state}`, 'data-testid': 'job-state' }, job.state),
    h(
      'td',
      { class: 'progress' },
      h('progress', {
        max: String(Math.max(total, 1)),
        value: String(job.done),
        'data-testid': 'job-progress',
      }),
      h('span', { 'data-testid': 'job-done' }, ` ${job.done} / ${total}`),
    ),
    h(
      'td',
      {},
      `${job.rate.toFixed(1)} /s`,
      job.maxEventsPerSecond === null ? '' : ` (limit ${job.maxEventsPerSecond})`,
    ),
    h('td', { 'data-testid': 'job-eta' }, job.etaMs === null ? '—' : duration(job.etaMs / 1000)),
    h('td', {}, when(job.createdAt)),
    h(
      'td',
      { class: 'actions' },
      job.state === 'running' || job.state === 'queued'
        ? action('Pause', post('pause'), { 'data-testid': 'pause' })
        : null,
      job.state === 'paused' || job.state === 'failed' || job.state === 'queued'
        ? action('Resume', post('resume'), { 'data-testid': 'resume' })
        : null,
      open ? action('Cancel', post('cancel'), { 'data-testid': 'cancel' }) : null,
    ),
    job.error === null ? null : h('td', { class: 'error' }, job.error),
  );
}

export function render(root, _params) {
  const jobs = h('div', { 'data-testid': 'replay-jobs' }, h('p', {}, 'Loading…'));
  const filter = h(
    'select',
    { 'aria-label': 'state' },
    ['', 'running', 'paused', 'queued', 'failed', 'completed', 'cancelled'].map((s) =>
      h('option', { value: s }, s === '' ? 'all states' : s),
    ),
  );
  let stopped = false;
  const refresh = async () => {
    try {
      const list = await api(`replay${query({ state: filter.value, limit: 50 })}`);
      if (stopped) return;
      show(
        jobs,
        table(
          ['job', 'kind', 'consumer', 'state', 'progress', 'rate', 'ETA', 'created', ''],
          list.map((j) => jobRow(j, refresh)),
        ),
      );
    } catch (error) {
      if (!stopped) notify(error.message, true);
    }
  };
  filter.addEventListener('change', refresh);
  show(
    root,
    h('h1', {}, 'Replay jobs'),
    h(
      'p',
      { class: 'muted' },
      'Backfills, rebuilds and reactor dry runs, stored in the database: jobs started here run in the server process; pause leaves them resumable from their checkpoint.',
    ),
    h('div', { class: 'toolbar' }, filter),
    jobs,
    planForm(refresh),
  );
  void refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
