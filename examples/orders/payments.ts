/**
 * A stand-in for a payment gateway, in process. It fails now and then, deterministically: the first attempt for
 * about one order in eight, and the first two for one in forty (a seeded hash of the order), so the payment reactor
 * is retried with backoff and the run can be repeated. One customer's card network is down until an operator
 * fixes it: that order's payment is parked after its retries, and the rest of its stream waits behind it.
 */

/** FNV-1a with a seed: the same order fails the same way on every run. */
export function seededHash(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export class PaymentGateway {
  /** Captures and refunds performed, by idempotency key. */
  readonly captured = new Map<string, number>();
  readonly refunded = new Map<string, number>();
  /** Orders whose refund went through. */
  readonly refundedOrders = new Set<string>();
  /** Calls that failed on purpose (each retried by the worker). */
  failures = 0;
  /** Calls that repeated a key already performed (answered as done, nothing charged again). */
  repeats = 0;
  readonly #attempts = new Map<string, number>();
  readonly #blocked = new Set<string>();

  constructor(
    readonly seed: number,
    blockedCustomers: readonly string[] = [],
  ) {
    for (const c of blockedCustomers) this.#blocked.add(c);
  }

  /** The operator's fix: the customer's card network works again. */
  unblock(customer: string): void {
    this.#blocked.delete(customer);
  }

  #failsNow(key: string, order: string): boolean {
    const attempt = (this.#attempts.get(key) ?? 0) + 1;
    this.#attempts.set(key, attempt);
    const h = seededHash(order, this.seed);
    const failing = h % 40 === 0 ? 2 : h % 8 === 0 ? 1 : 0;
    return attempt <= failing;
  }

  capture(key: string, order: string, customer: string, amount: number): Promise<{ id: string }> {
    if (this.#blocked.has(customer)) {
      this.failures++;
      return Promise.reject(new Error(`card network for ${customer} is down (order ${order})`));
    }
    if (this.#failsNow(key, order)) {
      this.failures++;
      return Promise.reject(new Error(`gateway timeout capturing ${order}`));
    }
    if (this.captured.has(key)) this.repeats++;
    else this.captured.set(key, amount);
    return Promise.resolve({ id: `cap-${key}` });
  }

  refund(key: string, order: string, amount: number): Promise<{ id: string }> {
    if (this.#failsNow(key, order)) {
      this.failures++;
      return Promise.reject(new Error(`gateway timeout refunding ${order}`));
    }
    if (this.refunded.has(key)) this.repeats++;
    else this.refunded.set(key, amount);
    this.refundedOrders.add(order);
    return Promise.resolve({ id: `ref-${key}` });
  }
}
