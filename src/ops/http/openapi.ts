// The OpenAPI 3.1 document of the admin API, served at /api/openapi.json. A test checks that every route of the
// app is described here and every path here is a route.

type Param = { name: string; in: 'path' | 'query'; required?: boolean; description: string; schema: object };

const text = { type: 'string' };
const limit = (max: number): Param => ({
  name: 'limit',
  in: 'query',
  description: `Page size, 1 to ${max}.`,
  schema: { type: 'integer', minimum: 1, maximum: max },
});
const path = (name: string, description: string): Param => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: text,
});
const query = (name: string, description: string, schema: object = text): Param => ({
  name,
  in: 'query',
  description,
  schema,
});

const error = {
  description: 'An error with its stable code (EVENTLANE_…) and a message a person can act on.',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
};
const json = (description: string) => ({
  description,
  content: { 'application/json': { schema: { type: 'object' } } },
});

function op(summary: string, parameters: Param[] = [], options: { body?: object; action?: boolean } = {}) {
  return {
    summary,
    parameters,
    ...(options.body
      ? { requestBody: { required: false, content: { 'application/json': { schema: options.body } } } }
      : {}),
    responses: {
      200: json(options.action ? 'The changed record; the action was written to the audit log.' : 'OK'),
      400: error,
      401: error,
      404: error,
      ...(options.action ? { 409: error } : {}),
      503: error,
    },
  };
}

const reason = { type: 'object', properties: { reason: { type: 'string', maxLength: 1000 } } };
const bulk = {
  type: 'object',
  properties: {
    consumer: { type: 'string', description: 'Every parked event of this consumer.' },
    ids: { type: 'array', items: { type: 'string', pattern: '^\\d+$' }, maxItems: 1000 },
    reason: { type: 'string', maxLength: 1000 },
  },
};

const jobOptions = {
  type: 'object',
  required: ['kind', 'consumer'],
  properties: {
    kind: { enum: ['rebuild', 'backfill', 'dry-run', 'reactor-replay'] },
    consumer: { type: 'string', description: "A consumer the server was given (the config's `consumers`)." },
    from: { type: 'string', description: 'Start after this checkpoint `tx:position`, or at this ISO time.' },
    to: { type: 'string', description: 'End at this checkpoint (inclusive) or ISO time; default the head.' },
    follow: { type: 'boolean' },
    types: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 100 },
    streamPrefix: { type: 'string', maxLength: 200 },
    reprocess: { type: 'boolean' },
    maxEventsPerSecond: { type: 'number', exclusiveMinimum: 0 },
    concurrency: { type: 'integer', minimum: 1, maximum: 64 },
    adaptive: { type: 'boolean' },
    allowEffects: { type: 'boolean' },
  },
};
const startOptions = {
  ...jobOptions,
  properties: {
    ...jobOptions.properties,
    previewToken: { type: 'string', description: 'The `previewToken` of a plan with the same options.' },
    detached: { type: 'boolean', description: 'Write the job queued; resume runs it.' },
  },
};
const jobId = path('id', 'Replay job id.');

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'eventlane admin API',
      version: '1',
      description:
        'Status, lag, parked events and history of an eventlane store. Every request needs `Authorization: Bearer ' +
        '<token>` (reads may be opened by configuration); every action is written to the audit log.',
    },
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string', pattern: '^EVENTLANE_' }, message: { type: 'string' } },
            },
          },
        },
      },
    },
    paths: {
      '/api/openapi.json': { get: op('This document.') },
      '/api/overview': {
        get: op(
          'Head, oldest open transaction, relays with backlog, consumers and projections with lag, parked counts.',
        ),
      },
      '/api/relays': {
        get: op('Relays recorded in the store: checkpoint, lease, backlog, parked and held events.'),
      },
      '/api/consumers': {
        get: op('Consumers recorded in the store with lag (events, seconds) and parked counts.'),
      },
      '/api/consumers/{name}': { get: op('One consumer.', [path('name', 'Consumer name.')]) },
      '/api/consumers/{name}/partitions': {
        get: op("A consumer's partitions: checkpoint, lease owner and the owner's last renewal.", [
          path('name', 'Consumer name.'),
        ]),
      },
      '/api/projections': {
        get: op('Versions of projections that build or serve, with lag and the failure they stop at.'),
      },
      '/api/projections/{name}': {
        get: op('The versions of one projection.', [path('name', 'Projection name.')]),
      },
      '/api/projections/{name}/retry': {
        post: op('Retry the parked event the projection is stopped at.', [path('name', 'Projection name.')], {
          action: true,
        }),
      },
      '/api/projections/{name}/skip': {
        post: op('Skip the failing event the projection is stopped at.', [path('name', 'Projection name.')], {
          body: reason,
          action: true,
        }),
      },
      '/api/parked': {
        get: op('Failing and parked events of consumers and projection versions (`name@vN`).', [
          query('consumer', 'Only this consumer.'),
          query('status', 'Comma-separated: retrying, parked, resolved, skipped (default parked).'),
          limit(10_000),
        ]),
      },
      '/api/parked/retry': { post: op('Retry many parked events.', [], { body: bulk, action: true }) },
      '/api/parked/skip': { post: op('Skip many parked events.', [], { body: bulk, action: true }) },
      '/api/parked/{id}': {
        get: op('One parked event with its error, attempts and event data (redacted when configured).', [
          path('id', 'Parked event id.'),
        ]),
      },
      '/api/parked/{id}/retry': {
        post: op('Retry one parked event.', [path('id', 'Parked event id.')], { action: true }),
      },
      '/api/parked/{id}/skip': {
        post: op('Skip one parked event: its stream goes on after it.', [path('id', 'Parked event id.')], {
          body: reason,
          action: true,
        }),
      },
      '/api/relay-parked': {
        get: op('Events relays parked (the bus refused them) and the events held behind them.', [
          query('relay', 'Only this relay.'),
          query('status', 'Comma-separated: parked, held, retry, skip, published, skipped (default parked).'),
          limit(10_000),
        ]),
      },
      '/api/relay-parked/{id}/retry': {
        post: op('Publish a relay-parked event again.', [path('id', 'Relay-parked event id.')], {
          action: true,
        }),
      },
      '/api/relay-parked/{id}/skip': {
        post: op(
          'Never publish a relay-parked event; its held stream goes on.',
          [path('id', 'Relay-parked event id.')],
          {
            body: reason,
            action: true,
          },
        ),
      },
      '/api/streams': {
        get: op('Streams whose name starts with a prefix.', [query('prefix', 'Name prefix.'), limit(1000)]),
      },
      '/api/streams/{stream}': {
        get: op('The events of one stream.', [
          path('stream', 'Stream name (URL-encoded).'),
          query('from', 'First stream position.', { type: 'integer', minimum: 0 }),
          query('direction', 'forward (default) or backward.', { enum: ['forward', 'backward'] }),
          limit(100_000),
        ]),
      },
      '/api/events': {
        get: op('Events by type and recorded time, in log order.', [
          query('type', 'Event type.'),
          query('from', 'Recorded at or after (ISO 8601).', { type: 'string', format: 'date-time' }),
          query('to', 'Recorded before (ISO 8601).', { type: 'string', format: 'date-time' }),
          limit(1000),
        ]),
      },
      '/api/events/{id}': { get: op('One event by id.', [path('id', 'Event id (UUID).')]) },
      '/api/log': {
        get: op('The log in commit order after a checkpoint.', [
          query('after', 'Checkpoint `tx:position`.'),
          limit(10_000),
        ]),
      },
      '/api/contracts': {
        get: op(
          "The store's declared event contracts: versions with JSON Schemas, owner, producers, consumers.",
        ),
      },
      '/api/live': {
        get: {
          ...op(
            'Server-sent events: `overview` (as GET /api/overview) every interval, `log` ({events, checkpoint}) with new events when `tail` is given, `problem` ({code, message}) when a read fails.',
            [
              query('interval', 'Milliseconds between updates, 500 to 60000 (default 2000).', {
                type: 'integer',
                minimum: 500,
                maximum: 60000,
              }),
              query(
                'tail',
                'Also send new events of the log after this checkpoint, or `head` for events appended from now on.',
              ),
            ],
          ),
          responses: {
            ...op('').responses,
            200: {
              description: 'An event stream.',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
          },
        },
      },
      '/api/replay': {
        get: op('Replay jobs, newest first: state, done, total, rate, ETA, report.', [
          query('state', 'Comma-separated: queued, running, paused, cancelled, completed, failed.'),
          limit(10_000),
        ]),
      },
      '/api/replay/plan': {
        post: op(
          'What a job would do, without side effects: events by type, consumers touched, effects, expected duration and the preview token.',
          [],
          { body: jobOptions },
        ),
      },
      '/api/replay/start': {
        post: op(
          'Start a job in the server process; over the preview threshold it needs the token of a plan.',
          [],
          {
            body: startOptions,
            action: true,
          },
        ),
      },
      '/api/replay/{id}': { get: op('One replay job.', [jobId]) },
      '/api/replay/{id}/pause': {
        post: op('Pause a job after the page in progress.', [jobId], { action: true }),
      },
      '/api/replay/{id}/resume': {
        post: op('Run a queued, paused or failed job in the server process, from its checkpoint.', [jobId], {
          body: { type: 'object', properties: { takeOver: { type: 'boolean' } } },
          action: true,
        }),
      },
      '/api/replay/{id}/cancel': {
        post: op('End a job for good; what was applied stays applied.', [jobId], { action: true }),
      },
      '/api/replay/{id}/rate': {
        post: op('A new events/s limit, taken up at the next page.', [jobId], {
          body: {
            type: 'object',
            required: ['maxEventsPerSecond'],
            properties: { maxEventsPerSecond: { type: ['number', 'null'], exclusiveMinimum: 0 } },
          },
          action: true,
        }),
      },
      '/api/audit': { get: op('The audit log, newest first.', [limit(1000)]) },
    },
  };
}
