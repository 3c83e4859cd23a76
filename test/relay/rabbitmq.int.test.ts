import { busSuite } from './support/bus-suite.js';

busSuite('rabbitmq', { streams: 200, perStream: 250 });
