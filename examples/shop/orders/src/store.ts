// Orders in the orders service's own SQLite file; keyset pagination on `seq`.
import { randomBytes } from 'node:crypto'
import { openDatabase, type Database } from '@bulwark/core'

export type OrderItem = { productId: string; name: string; quantity: number; unitPrice: number }
export type Order = {
  id: string; owner: string; status: string; items: OrderItem[]; total: number; currency: string
  paymentMethodId: string; chargeId: string; createdAt: string
}

const MIGRATIONS = [`
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
`]

type Row = { seq: number; id: string; owner: string; status: string; items: string; total: number; currency: string; payment_method_id: string; charge_id: string; created_at: string }
const toOrder = (r: Row): Order => ({
  id: r.id, owner: r.owner, status: r.status, items: JSON.parse(r.items) as OrderItem[], total: r.total, currency: r.currency,
  paymentMethodId: r.payment_method_id, chargeId: r.charge_id, createdAt: r.created_at,
})

export type OrdersStore = {
  newId(): string
  insert(order: Order): void
  get(id: string): Order | undefined
  /** Own orders (owner set) or every order (owner undefined), after `afterSeq`. */
  list(owner: string | undefined, limit: number, afterSeq: number): { items: Order[]; lastSeq?: number; more: boolean }
  close(): void
  readonly db: Database
}

export function openOrdersStore(path: string): OrdersStore {
  const db = openDatabase(path, { migrations: MIGRATIONS })
  const insert = db.prepare('INSERT INTO orders (id, owner, status, items, total, currency, payment_method_id, charge_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
  const get = db.prepare('SELECT * FROM orders WHERE id = ?')
  const listOwn = db.prepare('SELECT * FROM orders WHERE owner = ? AND seq > ? ORDER BY seq LIMIT ?')
  const listAll = db.prepare('SELECT * FROM orders WHERE seq > ? ORDER BY seq LIMIT ?')
  return {
    db,
    newId: () => `ord_${randomBytes(12).toString('base64url')}`,
    insert(o) {
      insert.run(o.id, o.owner, o.status, JSON.stringify(o.items), o.total, o.currency, o.paymentMethodId, o.chargeId, o.createdAt)
    },
    get(id) {
      const row = get.get(id) as Row | undefined
      return row ? toOrder(row) : undefined
    },
    list(owner, limit, afterSeq) {
      const rows = (owner === undefined ? listAll.all(afterSeq, limit + 1) : listOwn.all(owner, afterSeq, limit + 1)) as Row[]
      const page = rows.slice(0, limit)
      return { items: page.map(toOrder), lastSeq: page.at(-1)?.seq, more: rows.length > limit }
    },
    close: () => db.close(),
  }
}
