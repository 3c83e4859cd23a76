import { busSuite } from './support/bus-suite.js';

busSuite('redis', { streams: 200, perStream: 250 });
