// Stream browser: streams by name or prefix, an event by id, events by type and time, one stream's full history
// with data and metadata, and a live tail of the log. Data is shown as JSON text.

import { api, live, query } from './api.js';
import { h, json, link, notify, show, when } from './dom.js';

/** One event with its data and metadata, as text. */
function eventCard(e) {
  return h(
    'article',
    { class: 'event', 'data-event': e.id },
    h(
      'header',
      {},
      h('strong', {}, e.type),
      ` v${e.version} · `,
      link(`${e.stream}:${e.streamPosition}`, 'streams', e.stream),
      ' · ',
      link(e.id, 'events', e.id),
      ` · recorded ${when(e.recordedAt)} · checkpoint ${e.checkpoint}`,
    ),
    h(
      'div',
      { class: 'cols' },
      h('div', {}, h('div', { class: 'label' }, 'data'), json(e.data, { 'data-testid': 'event-data' })),
      h('div', {}, h('div', { class: 'label' }, 'metadata'), json(e.metadata)),
    ),
  );
}

function form(label, fields, submit) {
  const f = h(
    'form',
    { class: 'search', 'aria-label': label },
    h('strong', {}, label),
    fields,
    h('button', { type: 'submit' }, 'Find'),
  );
  f.addEventListener('submit', (e) => {
    e.preventDefault();
    submit().catch((error) => notify(error.message, true));
  });
  return f;
}

function browser(root) {
  const results = h('div', { 'data-testid': 'results' });
  const prefix = h('input', {
    name: 'prefix',
    placeholder: 'stream name or prefix',
    'aria-label': 'stream prefix',
  });
  const id = h('input', { name: 'id', placeholder: 'event id (UUID)', 'aria-label': 'event id' });
  const type = h('input', { name: 'type', placeholder: 'event type', 'aria-label': 'event type' });
  const from = h('input', { name: 'from', type: 'datetime-local', 'aria-label': 'from' });
  const to = h('input', { name: 'to', type: 'datetime-local', 'aria-label': 'to' });
  const iso = (input) => (input.value === '' ? undefined : new Date(input.value).toISOString());
  const tail = h('div', { class: 'tail', 'data-testid': 'tail' });
  let stopTail;
  const tailButton = h('button', { type: 'button' }, 'Start live tail');
  tailButton.addEventListener('click', () => {
    if (stopTail) {
      stopTail();
      stopTail = undefined;
      tailButton.textContent = 'Start live tail';
      return;
    }
    tailButton.textContent = 'Stop live tail';
    stopTail = live(
      { tail: 'head', interval: 1000 },
      {
        log: (page) => {
          for (const e of page.events) tail.prepend(eventCard(e));
          while (tail.childElementCount > 200) tail.lastElementChild.remove();
        },
      },
      (state) => tail.setAttribute('data-state', state),
    );
  });
  show(
    root,
    h('h1', {}, 'Streams'),
    form('Streams', [prefix], async () => {
      const rows = await api(`streams${query({ prefix: prefix.value })}`);
      show(
        results,
        h(
          'ul',
          { class: 'streams' },
          rows.length === 0
            ? h('li', {}, 'no stream with that prefix')
            : rows.map((s) => h('li', {}, link(s.stream, 'streams', s.stream), ` · ${s.version} event(s)`)),
        ),
      );
    }),
    form('Event', [id], async () =>
      show(results, eventCard(await api(`events/${encodeURIComponent(id.value.trim())}`))),
    ),
    form('Events by type', [type, from, to], async () => {
      const rows = await api(
        `events${query({ type: type.value, from: iso(from), to: iso(to), limit: 200 })}`,
      );
      show(results, rows.length === 0 ? h('p', {}, 'no events') : rows.map(eventCard));
    }),
    results,
    h('h2', {}, 'Live tail of the log'),
    tailButton,
    tail,
  );
  return () => stopTail?.();
}

function history(root, stream) {
  const list = h('div', { 'data-testid': 'history' });
  let from = 1;
  const more = h('button', { type: 'button' }, 'Older… newer events');
  const load = async () => {
    const events = await api(`streams/${encodeURIComponent(stream)}${query({ from, limit: 100 })}`);
    for (const e of events) list.append(eventCard(e));
    from += events.length;
    more.hidden = events.length < 100;
  };
  more.textContent = 'Load more';
  more.addEventListener('click', () => load().catch((e) => notify(e.message, true)));
  show(
    root,
    h('h1', {}, 'Stream ', h('code', {}, stream)),
    h('p', {}, link('← all streams', 'streams')),
    list,
    more,
  );
  load()
    .then(() => {
      if (list.childElementCount === 0) show(list, h('p', {}, 'This stream has no events.'));
    })
    .catch((e) => notify(e.message, true));
}

export function render(root, params) {
  if (params[0] !== undefined && params[0] !== '') return history(root, params[0]);
  return browser(root);
}

/** `#/events/<id>` opens one event through the stream browser. */
export function renderEvent(root, id) {
  api(`events/${encodeURIComponent(id)}`)
    .then((e) => show(root, h('h1', {}, 'Event'), eventCard(e)))
    .catch((e) => notify(e.message, true));
}
