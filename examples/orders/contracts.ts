import { z } from 'zod';
import { defineEvent } from '../../src/index.js';

/** Version 1 had no currency; version 2 made it explicit. Stored v1 events are read as v2. */
export const OrderCreated = defineEvent({
  type: 'order.created',
  owner: 'orders',
  producers: ['orders-service'],
  versions: {
    1: z.object({ customerId: z.string(), total: z.number().positive() }),
    2: z.object({ customerId: z.string(), total: z.number().positive(), currency: z.enum(['EUR', 'USD']) }),
  },
  upcast: { 1: (v1) => ({ ...v1, currency: 'EUR' as const }) },
});

export const OrderPaid = defineEvent({
  type: 'order.paid',
  owner: 'payments',
  producers: ['orders-service'],
  versions: { 1: z.object({ customerId: z.string(), amount: z.number().positive() }) },
});

export const OrderShipped = defineEvent({
  type: 'order.shipped',
  owner: 'fulfilment',
  producers: ['orders-service'],
  versions: { 1: z.object({ carrier: z.string() }) },
});

export const OrderRefunded = defineEvent({
  type: 'order.refunded',
  owner: 'payments',
  producers: ['orders-service'],
  versions: {
    1: z.object({ customerId: z.string(), amount: z.number().positive(), reason: z.string() }),
  },
});

export const events = [OrderCreated, OrderPaid, OrderShipped, OrderRefunded];
