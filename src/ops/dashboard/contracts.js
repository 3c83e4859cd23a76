// Contracts: the declared event types with their versions and JSON Schemas, owner, producers and consumers.

import { api } from './api.js';
import { h, json, notify, show, table } from './dom.js';

export function render(root) {
  show(root, h('h1', {}, 'Contracts'), h('p', {}, 'Loading…'));
  api('contracts')
    .then((list) => {
      show(
        root,
        h('h1', {}, 'Contracts'),
        list.length === 0
          ? h(
              'p',
              {},
              'This store declares no contracts (openStore({ events }), or `events` in eventlane.config for `eventlane serve`).',
            )
          : [
              table(
                ['type', 'version', 'owner', 'producers', 'consumers', 'deprecated'],
                list.map((c) => [
                  h('a', { href: `#/contracts`, 'data-type': c.type }, c.type),
                  `v${c.currentVersion}`,
                  c.owner,
                  c.producers.join(', ') || '—',
                  c.consumers.map((x) => `${x.name} (${x.kind})`).join(', ') || '—',
                  c.deprecated === null
                    ? ''
                    : `since ${c.deprecated.since}${c.deprecated.reason ? `: ${c.deprecated.reason}` : ''}`,
                ]),
                { 'data-testid': 'contracts' },
              ),
              list.map((c) =>
                h(
                  'section',
                  { class: 'contract' },
                  h('h2', {}, c.type),
                  c.description ? h('p', {}, c.description) : null,
                  c.versions.map((v) =>
                    h(
                      'details',
                      { open: v.version === c.currentVersion },
                      h('summary', {}, `version ${v.version}`),
                      v.schema === null ? h('p', {}, 'no JSON Schema') : json(v.schema),
                    ),
                  ),
                ),
              ),
            ],
      );
    })
    .catch((e) => notify(e.message, true));
}
