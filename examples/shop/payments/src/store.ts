// Payment methods and charges in the payments service's own SQLite file.
// Only the vault's ciphertext of the card number is stored (plus last4 and
// brand for display, which PCI DSS allows); the CVC has no column at all.
// Deleting a method leaves a tombstone, not a hole: recorded charges
// reference the method (foreign key) and stay as they were for order history,
// while the ciphertext and last4 are wiped (secure_delete zeroes the freed
// bytes in the file). The card key is shared by every method, so shredding
// a key per method is not an option; wiping the row is. A tombstone is
// invisible: not listed, not counted, not found, not chargeable.
import { randomBytes } from 'node:crypto'
import { openDatabase, type Database } from '@bulwark/core'

export type PaymentMethod = { id: string; owner: string; last4: string; brand: string; expMonth: number; expYear: number; createdAt: string }
export type StoredMethod = PaymentMethod & { cardCiphertext: string }
export type Charge = { id: string; orderId: string; paymentMethodId: string; owner: string; amount: number; currency: string; status: string; createdAt: string }

const MIGRATIONS = [`
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
`, `
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
  addMethod(input: Omit<StoredMethod, 'id' | 'createdAt'>, now: number): StoredMethod
  listMethods(owner: string, limit: number): StoredMethod[]
  countMethods(owner: string): number
  /** A live method (never a deleted one). */
  getMethod(id: string): StoredMethod | undefined
  /** Wipes the owner's live method down to a tombstone; false when there was none. */
  deleteMethod(id: string, owner: string, now: number): boolean
  chargeForOrder(orderId: string): Charge | undefined
  addCharge(input: Omit<Charge, 'id' | 'createdAt'>, now: number): Charge
  close(): void
  readonly db: Database
}

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url')}`

export function openPaymentsStore(path: string): PaymentsStore {
  const db = openDatabase(path, { migrations: MIGRATIONS })
  // Overwrite freed content with zeros, so a wiped ciphertext leaves no bytes behind in the file.
  db.exec('PRAGMA secure_delete = ON')
  const insertMethod = db.prepare('INSERT INTO methods (id, owner, card_ciphertext, last4, brand, exp_month, exp_year, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
  const listMethods = db.prepare('SELECT * FROM methods WHERE owner = ? AND deleted_at IS NULL ORDER BY seq LIMIT ?')
  const countMethods = db.prepare('SELECT COUNT(*) AS n FROM methods WHERE owner = ? AND deleted_at IS NULL')
  const getMethod = db.prepare('SELECT * FROM methods WHERE id = ? AND deleted_at IS NULL')
  const deleteMethod = db.prepare('UPDATE methods SET card_ciphertext = \'\', last4 = \'\', deleted_at = ? WHERE id = ? AND owner = ? AND deleted_at IS NULL')
  const chargeForOrder = db.prepare('SELECT * FROM charges WHERE order_id = ?')
  const insertCharge = db.prepare('INSERT INTO charges (id, order_id, method_id, owner, amount, currency, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
  return {
    db,
    addMethod(input, now) {
      const method: StoredMethod = { ...input, id: newId('pm'), createdAt: new Date(now).toISOString() }
      insertMethod.run(method.id, method.owner, method.cardCiphertext, method.last4, method.brand, method.expMonth, method.expYear, method.createdAt)
      return method
    },
    listMethods: (owner, limit) => (listMethods.all(owner, limit) as MethodRow[]).map(toMethod),
    countMethods: (owner) => (countMethods.get(owner) as { n: number }).n,
    getMethod(id) {
      const row = getMethod.get(id) as MethodRow | undefined
      return row ? toMethod(row) : undefined
    },
    deleteMethod: (id, owner, now) => Number(deleteMethod.run(new Date(now).toISOString(), id, owner).changes) === 1,
    chargeForOrder(orderId) {
      const row = chargeForOrder.get(orderId) as ChargeRow | undefined
      return row ? toCharge(row) : undefined
    },
    addCharge(input, now) {
      const charge: Charge = { ...input, id: newId('ch'), createdAt: new Date(now).toISOString() }
      insertCharge.run(charge.id, charge.orderId, charge.paymentMethodId, charge.owner, charge.amount, charge.currency, charge.status, charge.createdAt)
      return charge
    },
    close: () => db.close(),
  }
}
