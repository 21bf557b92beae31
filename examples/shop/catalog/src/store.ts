// Products in the catalog's own SQLite file. Keyset pagination on `seq`
// (never OFFSET), so a page costs the same wherever it starts.
import { randomBytes } from 'node:crypto'
import { openDatabase, type Database } from '@bulwark/core'

export type Product = { id: string; name: string; description: string; price: number; currency: string; createdAt: string }
export type NewProduct = { name: string; description?: string; price: number; currency?: string }

const MIGRATIONS = [`
  CREATE TABLE products (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    price INTEGER NOT NULL CHECK (price >= 0),
    currency TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
`]

type Row = { seq: number; id: string; name: string; description: string; price: number; currency: string; created_at: string }
const toProduct = (r: Row): Product => ({ id: r.id, name: r.name, description: r.description, price: r.price, currency: r.currency, createdAt: r.created_at })

export type CatalogStore = {
  list(limit: number, afterSeq: number): { items: Product[]; lastSeq?: number; more: boolean }
  get(id: string): Product | undefined
  create(input: NewProduct, now: number): Product
  count(): number
  close(): void
  readonly db: Database
}

export function openCatalogStore(path: string): CatalogStore {
  const db = openDatabase(path, { migrations: MIGRATIONS })
  const list = db.prepare('SELECT * FROM products WHERE seq > ? ORDER BY seq LIMIT ?')
  const get = db.prepare('SELECT * FROM products WHERE id = ?')
  const insert = db.prepare('INSERT INTO products (id, name, description, price, currency, created_at) VALUES (?, ?, ?, ?, ?, ?)')
  const count = db.prepare('SELECT COUNT(*) AS n FROM products')
  return {
    db,
    list(limit, afterSeq) {
      const rows = list.all(afterSeq, limit + 1) as Row[]
      const page = rows.slice(0, limit)
      return { items: page.map(toProduct), lastSeq: page.at(-1)?.seq, more: rows.length > limit }
    },
    get(id) {
      const row = get.get(id) as Row | undefined
      return row ? toProduct(row) : undefined
    },
    create(input, now) {
      const product: Product = {
        id: `prod_${randomBytes(9).toString('base64url')}`, name: input.name, description: input.description ?? '',
        price: input.price, currency: input.currency ?? 'USD', createdAt: new Date(now).toISOString(),
      }
      insert.run(product.id, product.name, product.description, product.price, product.currency, product.createdAt)
      return product
    },
    count: () => (count.get() as { n: number }).n,
    close: () => db.close(),
  }
}
