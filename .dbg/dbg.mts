import { createEventStore } from '/work/wt/relaypark/src/index.js';
import { embeddedBus } from '/work/wt/relaypark/src/bus/embedded/index.js';
import { createRelay } from '/work/wt/relaypark/src/relay/relay.js';
const store = await createEventStore();
const bus = embeddedBus({ maxMessageBytes: 8192 });
await store.append('s-1', [{ type: 'doc.stored', data: { b: 'x'.repeat(20000) } }, { type: 'doc.noted', data: {} }]);
await store.append('s-2', [{ type: 'doc.noted', data: {} }]);
const relay = createRelay(store, { bus, registry: null, parkedPollMs: 50, onError: (e) => console.error('ERR', e) });
await relay.start();
await new Promise((r) => setTimeout(r, 2000));
console.log(await relay.stats());
console.log(await store.executor.query(`select * from ${store.schema}.relay_parked`));
await relay.stop();

await store.close();
