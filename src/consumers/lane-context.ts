import type { Delivery } from '../bus/types.js';
import type { EventStore } from '../store/event-store.js';
import type { Breaker } from './breaker.js';
import type { ConsumerDefinition } from './define.js';
import type { Lane } from './lane.js';
import type { ResolvedWorkerOptions } from './options.js';
import type { LeaseRef } from './sql.js';
import type { ConsumerStats } from './stats.js';

/** What a lane works with: the store, its consumer and lease, and the worker's callbacks. */
export interface LaneContext {
  store: EventStore;
  q: string;
  options: ResolvedWorkerOptions;
  consumer: ConsumerDefinition;
  lease: LeaseRef;
  breaker: Breaker;
  stats: ConsumerStats;
  mode: 'log' | 'bus';
  /** Log mode: asks the worker's log reader to read again from the lane's committed position (see `rewound`). */
  rewind(lane: Lane): void;
  /** The lane lost its lease or stopped on an error it cannot recover from. */
  lost(error: Error): void;
  /** Bus mode: deliveries a stopping lane held: the worker marks their streams for the next owner and acks them. */
  setAside(deliveries: readonly Delivery[]): Promise<void>;
}
