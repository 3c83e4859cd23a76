import { busSuite } from './support/bus-suite.js';

busSuite('nats', { streams: 200, perStream: 250 });
