/**
 * Bus mode: streams found behind when partitions were taken are read from the store once the lane's bus has been
 * quiet (nothing queued, nothing delivered) for this long: it has delivered its backlog, or it never had one …
 */
export const BUS_IDLE_MS = 1000;
/** … or, on a bus that never falls quiet, this long after they were noted. */
export const BEHIND_MAX_WAIT_MS = 30_000;

/**
 * A lane's streams that were behind (up to a version) when its worker took the partition. The bus may not bring all
 * of it (the embedded bus keeps nothing for a consumer it has not seen; a broker may have dropped a message at its
 * delivery limit), but a durable one usually does: reading every such stream from the store at once would apply the
 * backlog from the store and then verify and drop all of it again as it arrives. So a stream stays noted until a
 * delivery brings it to its version, and what is still noted once the bus has been quiet for BUS_IDLE_MS (or
 * BEHIND_MAX_WAIT_MS have passed) goes to the lane's catch-up. A hole before a delivery is read from the store by
 * the order guard meanwhile, so waiting never reorders a stream.
 */
export class BehindStreams {
  readonly #versions = new Map<string, number>();
  #since = 0;
  #lastDeliveryAt = 0;

  note(streams: readonly { stream: string; version: number }[], skip: (stream: string) => boolean): void {
    if (streams.length === 0) return;
    if (this.#versions.size === 0) this.#since = Date.now();
    for (const { stream, version } of streams) {
      if (!skip(stream)) this.#versions.set(stream, Math.max(version, this.#versions.get(stream) ?? 0));
    }
  }

  delivered(now: number): void {
    this.#lastDeliveryAt = now;
  }

  /**
   * A delivery at `position` was applied, or its stream waits on a failure or catch-up that reads the store. It is
   * acknowledged only now, after the batch's commit: until then the bus could not send more (its in-flight window
   * was full), so the quiet period starts here, not at the delivery (a batch can take longer than BUS_IDLE_MS).
   */
  passed(stream: string, position: number, now = Date.now()): void {
    this.#lastDeliveryAt = Math.max(this.#lastDeliveryAt, now);
    const version = this.#versions.get(stream);
    if (version !== undefined && position >= version) this.#versions.delete(stream);
  }

  /**
   * The noted streams to catch up from the store now (and forgets them), or none and when to ask again. `queued`:
   * deliveries still queued mean the bus is busy (it sends more as they are acknowledged), not quiet.
   */
  due(now: number, queued: number): { streams: string[]; nextAt: number } {
    if (this.#versions.size === 0) return { streams: [], nextAt: Infinity };
    if (queued > 0) this.#lastDeliveryAt = now;
    const quietSince = Math.max(this.#lastDeliveryAt, this.#since);
    const dueAt = Math.min(quietSince + BUS_IDLE_MS, this.#since + BEHIND_MAX_WAIT_MS);
    if (now < dueAt) return { streams: [], nextAt: dueAt };
    const streams = [...this.#versions.keys()];
    this.#versions.clear();
    return { streams, nextAt: Infinity };
  }
}
