// Orders on the orders service's SqlStore: its own SQLite file by default,
// schema `bulwark_orders` on PostgreSQL when configured. Keyset pagination on
// `seq` (never OFFSET). Replicas share the table: an order stored by one is
// listed and read by every other at once.
import { randomBytes } from 'node:crypto'
import { openStore, type BootstrapMessage, type Migration, type SqlStore } from '@bulwark/core'

export type OrderItem = { productId: string; name: string; quantity: number; unitPrice: number }
export type Order = {
  id: string; owner: string; status: string; items: OrderItem[]; total: number; currency: string
  paymentMethodId: string; chargeId: string; createdAt: string
}

// Version 1 is the SQLite schema the service always had, so existing files carry on.
const MIGRATIONS: readonly Migration[] = [{
  sqlite: `
  CREATE TABLE orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    items TEXT NOT NULL,
    total INTEGER NOT NULL,
    currency TEXT NOT NULL,
    payment_method_id TEXT NOT NULL,
    charge_id TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX orders_owner ON orders (owner, seq);
`,
  postgres: `
  CREATE TABLE orders (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    items TEXT NOT NULL,
    total BIGINT NOT NULL,
    currency TEXT NOT NULL,
    payment_method_id TEXT NOT NULL,
    charge_id TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX orders_owner ON orders (owner, seq);
`,
}]

type Row = { seq: number; id: string; owner: string; status: string; items: string; total: number; currency: string; payment_method_id: string; charge_id: string; created_at: string }
const toOrder = (r: Row): Order => ({
  id: r.id, owner: r.owner, status: r.status, items: JSON.parse(r.items) as OrderItem[], total: r.total, currency: r.currency,
  paymentMethodId: r.payment_method_id, chargeId: r.charge_id, createdAt: r.created_at,
})

export type OrdersStore = {
  newId(): string
  insert(order: Order): Promise<void>
  get(id: string): Promise<Order | undefined>
  /** Own orders (owner set) or every order (owner undefined), after `afterSeq`. */
  list(owner: string | undefined, limit: number, afterSeq: number): Promise<{ items: Order[]; lastSeq?: number; more: boolean }>
  /** Where the data lives (safe to log). */
  readonly location: string
  readonly sql: SqlStore
  close(): Promise<void>
}

export type OrdersStoreOptions = { sqlitePath: string; storage?: BootstrapMessage['storage'] }

export async function openOrdersStore(options: OrdersStoreOptions): Promise<OrdersStore> {
  const db = await openStore('orders', { storage: options.storage, sqlitePath: options.sqlitePath, migrations: MIGRATIONS })
  return {
    location: db.location,
    sql: db,
    newId: () => `ord_${randomBytes(12).toString('base64url')}`,
    async insert(o) {
      await db.run('INSERT INTO orders (id, owner, status, items, total, currency, payment_method_id, charge_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [o.id, o.owner, o.status, JSON.stringify(o.items), o.total, o.currency, o.paymentMethodId, o.chargeId, o.createdAt])
    },
    async get(id) {
      const row = await db.one<Row>('SELECT * FROM orders WHERE id = ?', [id])
      return row ? toOrder(row) : undefined
    },
    async list(owner, limit, afterSeq) {
      const rows = owner === undefined
        ? await db.all<Row>('SELECT * FROM orders WHERE seq > ? ORDER BY seq LIMIT ?', [afterSeq, limit + 1])
        : await db.all<Row>('SELECT * FROM orders WHERE owner = ? AND seq > ? ORDER BY seq LIMIT ?', [owner, afterSeq, limit + 1])
      const page = rows.slice(0, limit)
      return { items: page.map(toOrder), lastSeq: page.at(-1)?.seq, more: rows.length > limit }
    },
    close: () => db.close(),
  }
}
