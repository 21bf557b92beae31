// Payment methods and charges on the payments service's SqlStore: its own
// SQLite file by default, schema `bulwark_payments` on PostgreSQL when
// configured. Only the vault's ciphertext of the card number is stored (plus
// last4 and brand for display, which PCI DSS allows); the CVC has no column
// at all.
//
// Deleting a method leaves a tombstone, not a hole: recorded charges
// reference the method (foreign key) and stay as they were for order history,
// while the ciphertext and last4 are wiped. On SQLite, secure_delete zeroes
// the freed bytes in the file; PostgreSQL has no equivalent (the old row
// version stays in the table file as a dead tuple until VACUUM reclaims the
// space, and even then the bytes are not zeroed): see docs/threat-model.md.
// The card key is shared by every method, so shredding a key per method is
// not an option; wiping the row is. A tombstone is invisible: not listed, not
// counted, not found, not chargeable.
//
// Replicas share one database, so what must hold across them holds in SQL:
// one charge per order is the UNIQUE (order_id) constraint (the insert that
// loses answers the winner's charge), and the per-user cap on methods is
// counted and inserted under a lock per owner.
import { randomBytes } from 'node:crypto'
import { openStore, type BootstrapMessage, type Migration, type SqlExecutor, type SqlStore } from '@bulwark/core'
import { PaymentsErrors } from './errors.ts'

export type PaymentMethod = { id: string; owner: string; last4: string; brand: string; expMonth: number; expYear: number; createdAt: string }
export type StoredMethod = PaymentMethod & { cardCiphertext: string }
export type Charge = { id: string; orderId: string; paymentMethodId: string; owner: string; amount: number; currency: string; status: string; createdAt: string }

// Versions 1 and 2 are the SQLite schema the service always had, so existing files carry on.
const MIGRATIONS: readonly Migration[] = [{
  sqlite: `
  CREATE TABLE methods (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    card_ciphertext TEXT NOT NULL,
    last4 TEXT NOT NULL,
    brand TEXT NOT NULL,
    exp_month INTEGER NOT NULL,
    exp_year INTEGER NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX methods_owner ON methods (owner, seq);
  CREATE TABLE charges (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL UNIQUE,
    method_id TEXT NOT NULL REFERENCES methods (id),
    owner TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
`,
  postgres: `
  CREATE TABLE methods (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    card_ciphertext TEXT NOT NULL,
    last4 TEXT NOT NULL,
    brand TEXT NOT NULL,
    exp_month INTEGER NOT NULL,
    exp_year INTEGER NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX methods_owner ON methods (owner, seq);
  CREATE TABLE charges (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL UNIQUE,
    method_id TEXT NOT NULL REFERENCES methods (id),
    owner TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
`,
}, `
  ALTER TABLE methods ADD COLUMN deleted_at TEXT;
`]

type MethodRow = { id: string; owner: string; card_ciphertext: string; last4: string; brand: string; exp_month: number; exp_year: number; created_at: string }
type ChargeRow = { id: string; order_id: string; method_id: string; owner: string; amount: number; currency: string; status: string; created_at: string }

const toMethod = (r: MethodRow): StoredMethod => ({
  id: r.id, owner: r.owner, last4: r.last4, brand: r.brand, expMonth: r.exp_month, expYear: r.exp_year, createdAt: r.created_at, cardCiphertext: r.card_ciphertext,
})
const toCharge = (r: ChargeRow): Charge => ({
  id: r.id, orderId: r.order_id, paymentMethodId: r.method_id, owner: r.owner, amount: r.amount, currency: r.currency, status: r.status, createdAt: r.created_at,
})

export type PaymentsStore = {
  /**
   * Adds a method unless the owner already holds `max` live ones (then
   * BW_PAYMENTS_TOO_MANY_METHODS): counted and inserted atomically, so
   * replicas adding at once cannot pass the cap together.
   */
  addMethod(input: Omit<StoredMethod, 'id' | 'createdAt'>, now: number, max: number): Promise<StoredMethod>
  listMethods(owner: string, limit: number): Promise<StoredMethod[]>
  countMethods(owner: string): Promise<number>
  /** A live method (never a deleted one). */
  getMethod(id: string): Promise<StoredMethod | undefined>
  /** Wipes the owner's live method down to a tombstone; false when there was none. */
  deleteMethod(id: string, owner: string, now: number): Promise<boolean>
  chargeForOrder(orderId: string): Promise<Charge | undefined>
  /**
   * Records the order's charge, once: when the order already has one (another
   * request or replica got there first), that one is returned with
   * `created: false` and nothing is written.
   */
  addCharge(input: Omit<Charge, 'id' | 'createdAt'>, now: number): Promise<{ charge: Charge; created: boolean }>
  /** Where the data lives (safe to log). */
  readonly location: string
  /** The underlying store (tests look at the rows and the file). */
  readonly sql: SqlStore
  close(): Promise<void>
}

export type PaymentsStoreOptions = { sqlitePath: string; storage?: BootstrapMessage['storage'] }

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url')}`

/** Serializes writers of one owner's methods: BEGIN IMMEDIATE does on SQLite; PostgreSQL takes a transaction-scoped advisory lock. */
async function lockOwner(tx: SqlExecutor, owner: string): Promise<void> {
  if (tx.dialect === 'postgres') await tx.query('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [`bulwark_payments:methods:${owner}`])
}

export async function openPaymentsStore(options: PaymentsStoreOptions): Promise<PaymentsStore> {
  const db = await openStore('payments', { storage: options.storage, sqlitePath: options.sqlitePath, migrations: MIGRATIONS })
  // Overwrite freed content with zeros, so a wiped ciphertext leaves no bytes behind in the file (SQLite only: one connection, set once).
  if (db.dialect === 'sqlite') await db.query('PRAGMA secure_delete = ON')
  const countSql = 'SELECT COUNT(*) AS n FROM methods WHERE owner = ? AND deleted_at IS NULL'
  return {
    location: db.location,
    sql: db,
    addMethod(input, now, max) {
      return db.transaction(async (tx) => {
        await lockOwner(tx, input.owner)
        if ((await tx.one<{ n: number }>(countSql, [input.owner]))!.n >= max) throw PaymentsErrors.tooManyMethods(`at most ${max} payment methods per user`)
        const method: StoredMethod = { ...input, id: newId('pm'), createdAt: new Date(now).toISOString() }
        await tx.run('INSERT INTO methods (id, owner, card_ciphertext, last4, brand, exp_month, exp_year, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          [method.id, method.owner, method.cardCiphertext, method.last4, method.brand, method.expMonth, method.expYear, method.createdAt])
        return method
      })
    },
    async listMethods(owner, limit) {
      return (await db.all<MethodRow>('SELECT * FROM methods WHERE owner = ? AND deleted_at IS NULL ORDER BY seq LIMIT ?', [owner, limit])).map(toMethod)
    },
    async countMethods(owner) {
      return (await db.one<{ n: number }>(countSql, [owner]))!.n
    },
    async getMethod(id) {
      const row = await db.one<MethodRow>('SELECT * FROM methods WHERE id = ? AND deleted_at IS NULL', [id])
      return row ? toMethod(row) : undefined
    },
    async deleteMethod(id, owner, now) {
      const { changes } = await db.run('UPDATE methods SET card_ciphertext = \'\', last4 = \'\', deleted_at = ? WHERE id = ? AND owner = ? AND deleted_at IS NULL', [new Date(now).toISOString(), id, owner])
      return changes === 1
    },
    async chargeForOrder(orderId) {
      const row = await db.one<ChargeRow>('SELECT * FROM charges WHERE order_id = ?', [orderId])
      return row ? toCharge(row) : undefined
    },
    async addCharge(input, now) {
      const charge: Charge = { ...input, id: newId('ch'), createdAt: new Date(now).toISOString() }
      // The unique order_id decides, in one statement: no read-then-insert window between replicas.
      const inserted = await db.query('INSERT INTO charges (id, order_id, method_id, owner, amount, currency, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING RETURNING id',
        [charge.id, charge.orderId, charge.paymentMethodId, charge.owner, charge.amount, charge.currency, charge.status, charge.createdAt])
      if (inserted.rows.length === 1) return { charge, created: true }
      const existing = await db.one<ChargeRow>('SELECT * FROM charges WHERE order_id = ?', [input.orderId])
      // A committed row lost the race, so it is there; a missing one would mean it was deleted, which nothing does.
      if (!existing) throw new Error('the charge that won the race for this order is missing')
      return { charge: toCharge(existing), created: false }
    },
    close: () => db.close(),
  }
}
