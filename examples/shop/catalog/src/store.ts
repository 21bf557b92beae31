// Products on the catalog's SqlStore: its own SQLite file by default, schema
// `bulwark_catalog` on PostgreSQL when configured. Keyset pagination on `seq`
// (never OFFSET), so a page costs the same wherever it starts.
import { randomBytes } from 'node:crypto'
import { openStore, type BootstrapMessage, type Migration, type SqlExecutor } from '@bulwark/core'

export type Product = { id: string; name: string; description: string; price: number; currency: string; createdAt: string }
export type NewProduct = { name: string; description?: string; price: number; currency?: string }

// Version 1 is the SQLite schema the catalog always had, so existing files carry on.
const MIGRATIONS: readonly Migration[] = [{
  sqlite: `CREATE TABLE products (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    price INTEGER NOT NULL CHECK (price >= 0),
    currency TEXT NOT NULL,
    created_at TEXT NOT NULL
  );`,
  postgres: `CREATE TABLE products (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    price BIGINT NOT NULL CHECK (price >= 0),
    currency TEXT NOT NULL,
    created_at TEXT NOT NULL
  );`,
}]

type Row = { seq: number; id: string; name: string; description: string; price: number; currency: string; created_at: string }
const toProduct = (r: Row): Product => ({ id: r.id, name: r.name, description: r.description, price: r.price, currency: r.currency, createdAt: r.created_at })

export type CatalogStore = {
  list(limit: number, afterSeq: number): Promise<{ items: Product[]; lastSeq?: number; more: boolean }>
  get(id: string): Promise<Product | undefined>
  create(input: NewProduct, now: number): Promise<Product>
  count(): Promise<number>
  /**
   * Inserts `products` only when the catalog is empty, in one transaction;
   * returns how many it inserted (0 when another replica got there first).
   */
  seedIfEmpty(products: readonly NewProduct[], now: number): Promise<number>
  /** Where the data lives (safe to log). */
  readonly location: string
  close(): Promise<void>
}

export type CatalogStoreOptions = { sqlitePath: string; storage?: BootstrapMessage['storage'] }

async function insert(db: SqlExecutor, input: NewProduct, now: number): Promise<Product> {
  const product: Product = {
    id: `prod_${randomBytes(9).toString('base64url')}`, name: input.name, description: input.description ?? '',
    price: input.price, currency: input.currency ?? 'USD', createdAt: new Date(now).toISOString(),
  }
  await db.run('INSERT INTO products (id, name, description, price, currency, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    [product.id, product.name, product.description, product.price, product.currency, product.createdAt])
  return product
}

export async function openCatalogStore(options: CatalogStoreOptions): Promise<CatalogStore> {
  const db = await openStore('catalog', { storage: options.storage, sqlitePath: options.sqlitePath, migrations: MIGRATIONS })
  return {
    location: db.location,
    async list(limit, afterSeq) {
      const rows = await db.all<Row>('SELECT * FROM products WHERE seq > ? ORDER BY seq LIMIT ?', [afterSeq, limit + 1])
      const page = rows.slice(0, limit)
      return { items: page.map(toProduct), lastSeq: page.at(-1)?.seq, more: rows.length > limit }
    },
    async get(id) {
      const row = await db.one<Row>('SELECT * FROM products WHERE id = ?', [id])
      return row ? toProduct(row) : undefined
    },
    create: (input, now) => insert(db, input, now),
    async count() {
      return (await db.one<{ n: number }>('SELECT COUNT(*) AS n FROM products'))!.n
    },
    seedIfEmpty(products, now) {
      return db.transaction(async (tx) => {
        // SQLite's BEGIN IMMEDIATE already serializes writers; PostgreSQL needs a lock that conflicts with itself.
        if (tx.dialect === 'postgres') await tx.run('LOCK TABLE products IN SHARE ROW EXCLUSIVE MODE')
        if ((await tx.one<{ n: number }>('SELECT COUNT(*) AS n FROM products'))!.n > 0) return 0
        for (const product of products) await insert(tx, product, now)
        return products.length
      })
    },
    close: () => db.close(),
  }
}
