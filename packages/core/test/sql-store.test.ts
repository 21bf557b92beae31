// The async store contract, one table of behaviours run against both
// engines: embedded SQLite files and a real PostgreSQL (testkit's
// startPostgres: Debian's server on loopback). Then what only PostgreSQL has:
// a schema per component, per-component roles, and URLs whose password must
// never show.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { inspect } from 'node:util'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { createLogger, isUniqueViolation, openStore, toPostgresPlaceholders, type Migration, type OpenStoreOptions, type SqlStore } from '@bulwark/core'
import { freePort, postgresSkipReason, startPostgres, tempDir, type TestPostgres } from '@bulwark/testkit'

const pgSkip = postgresSkipReason()
let server: TestPostgres | undefined
let pgUrl = ''
const dir = tempDir('bulwark-sql-store-')

before(async () => {
  if (pgSkip) return
  server = await startPostgres()
  pgUrl = await server.createDatabase('contract')
})
after(async () => {
  await server?.stop()
  dir.remove()
})

type Place = { component: string; options: Pick<OpenStoreOptions, 'storage' | 'sqlitePath'> }
type Engine = { name: 'sqlite' | 'postgres'; skip: string | false; place(): Place }

const engines: Engine[] = [
  {
    name: 'sqlite', skip: false,
    place() {
      const component = `c_${randomBytes(4).toString('hex')}`
      return { component, options: { sqlitePath: join(dir.path, `${component}.db`) } }
    },
  },
  {
    name: 'postgres', skip: pgSkip,
    place() {
      const component = `c_${randomBytes(4).toString('hex')}`
      return { component, options: { sqlitePath: join(dir.path, 'unused.db'), storage: { postgres: { url: pgUrl } } } }
    },
  },
]

const TABLE: Migration = {
  sqlite: 'CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, qty INTEGER NOT NULL)',
  postgres: 'CREATE TABLE items (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT NOT NULL UNIQUE, qty INTEGER NOT NULL)',
}

async function versions(store: SqlStore): Promise<number> {
  if (store.dialect === 'sqlite') return (await store.one<{ user_version: number }>('PRAGMA user_version'))!.user_version
  return (await store.one<{ v: number }>('SELECT COALESCE(MAX(version), 0) AS v FROM bulwark_migrations'))!.v
}

for (const engine of engines) {
  const { name, skip } = engine

  test(`${name}: \`?\` placeholders, RETURNING, changes, and counts as numbers`, { skip }, async () => {
    const { component, options } = engine.place()
    const store = await openStore(component, { ...options, migrations: [TABLE] })
    try {
      const inserted = await store.one<{ id: number }>('INSERT INTO items (name, qty) VALUES (?, ?) RETURNING id', ['a?b', 3])
      assert.equal(inserted!.id, 1)
      await store.run('INSERT INTO items (name, qty) VALUES (?, ?)', ['it\'s', 5])
      assert.deepEqual(await store.one("SELECT COUNT(*) AS n, SUM(qty) AS total FROM items WHERE name <> '?'"), { n: 2, total: 8 })
      assert.equal((await store.run('UPDATE items SET qty = qty + ? WHERE qty > ?', [1, 0])).changes, 2)
      assert.deepEqual((await store.all<{ name: string }>('SELECT name FROM items ORDER BY id')).map((r) => r.name), ['a?b', 'it\'s'])
      assert.equal(await store.one('SELECT * FROM items WHERE name = ?', ['nope']), undefined)
      await assert.rejects(store.run('INSERT INTO items (name, qty) VALUES (?, ?)', ['a?b', 1]), (error) => isUniqueViolation(error))
      await assert.rejects(store.run('SELECT ?', [undefined as never]), TypeError)
    } finally {
      await store.close()
    }
  })

  test(`${name}: migrations are applied once each, and their versions recorded`, { skip }, async () => {
    const { component, options } = engine.place()
    const first: Migration[] = [TABLE, "INSERT INTO items (name, qty) VALUES ('seeded', 1)"]
    await (await openStore(component, { ...options, migrations: first })).close()
    const store = await openStore(component, { ...options, migrations: [...first, 'ALTER TABLE items ADD COLUMN note TEXT'] })
    try {
      assert.deepEqual(await store.all('SELECT name, note FROM items'), [{ name: 'seeded', note: null }], 'the seed ran once; the new migration ran')
      assert.equal(await versions(store), 3)
    } finally {
      await store.close()
    }
  })

  test(`${name}: a failed migration changes nothing and is not recorded as applied`, { skip }, async () => {
    const { component, options } = engine.place()
    await (await openStore(component, { ...options, migrations: [TABLE] })).close()
    await assert.rejects(openStore(component, {
      ...options, migrations: [TABLE, "CREATE TABLE other (v TEXT); INSERT INTO items (name, qty) VALUES ('x', 1)", 'CREATE TABLE broken (v NOSUCHTYPE ('],
    }), { code: 'BW_STORE_MIGRATION_FAILED' })
    const store = await openStore(component, { ...options, migrations: [TABLE] })
    try {
      assert.equal(await versions(store), 1)
      assert.deepEqual(await store.all('SELECT * FROM items'), [], 'the insert of the failed batch was rolled back')
      await assert.rejects(store.all('SELECT * FROM other'), 'the table of the failed batch does not exist')
    } finally {
      await store.close()
    }
  })

  test(`${name}: replicas starting at once migrate once`, { skip }, async () => {
    const { component, options } = engine.place()
    // Slow enough that every replica is past "what version is applied?" before the first commits.
    const slow = name === 'sqlite'
      ? 'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000) SELECT COUNT(*) FROM n'
      : 'SELECT pg_sleep(0.3)'
    const migrations: Migration[] = [TABLE, `${slow}; INSERT INTO items (name, qty) VALUES ('once', 1)`]
    const parties = 4
    const barrier = new SharedArrayBuffer(4)
    const results = await Promise.all(Array.from({ length: parties }, () => new Promise<{ ok: boolean; message?: string }>((resolve, reject) => {
      const worker = new Worker(new URL('./fixtures/open-store-worker.ts', import.meta.url), { workerData: { component, options, migrations, barrier, parties } })
      worker.once('message', (m) => { resolve(m); void worker.terminate() })
      worker.once('error', reject)
    })))
    assert.deepEqual(results, Array(parties).fill({ ok: true }), 'every replica started')
    const store = await openStore(component, { ...options, migrations })
    try {
      assert.deepEqual(await store.all('SELECT name FROM items'), [{ name: 'once' }])
      assert.equal(await versions(store), 2)
    } finally {
      await store.close()
    }
  })

  test(`${name}: a transaction commits when it returns and rolls back everything when it throws`, { skip }, async () => {
    const { component, options } = engine.place()
    const store = await openStore(component, { ...options, migrations: [TABLE] })
    try {
      const id = await store.transaction(async (tx) => {
        const row = await tx.one<{ id: number }>('INSERT INTO items (name, qty) VALUES (?, ?) RETURNING id', ['kept', 1])
        await tx.run('UPDATE items SET qty = ? WHERE id = ?', [2, row!.id])
        return row!.id
      })
      assert.deepEqual(await store.one('SELECT qty FROM items WHERE id = ?', [id]), { qty: 2 })
      let entered!: () => void
      const open = new Promise<void>((resolve) => { entered = resolve })
      const failing = store.transaction(async (tx) => {
        await tx.run('INSERT INTO items (name, qty) VALUES (?, ?)', ['lost', 1])
        await tx.run('DELETE FROM items WHERE name = ?', ['kept'])
        entered()
        await new Promise((r) => setTimeout(r, 20))
        throw new Error('boom')
      })
      await open
      // Another caller (another request) writes while that transaction is open: it must not be swept into it.
      const outside = store.run('INSERT INTO items (name, qty) VALUES (?, ?)', ['other caller', 1])
      await assert.rejects(failing, /boom/)
      await outside
      assert.deepEqual((await store.all<{ name: string }>('SELECT name FROM items ORDER BY name')).map((r) => r.name), ['kept', 'other caller'])
    } finally {
      await store.close()
    }
  })

  test(`${name}: a statement on the store from inside its own transaction is refused, and a finished tx handle is dead`, { skip }, async () => {
    const { component, options } = engine.place()
    const store = await openStore(component, { ...options, migrations: [TABLE] })
    try {
      let handle: Parameters<Parameters<SqlStore['transaction']>[0]>[0] | undefined
      await assert.rejects(store.transaction(async (tx) => {
        handle = tx
        await store.run('INSERT INTO items (name, qty) VALUES (?, ?)', ['wrong handle', 1])
      }), /use the `tx` handle/)
      await assert.rejects(handle!.all('SELECT 1'), /transaction is over/)
      assert.deepEqual(await store.all('SELECT * FROM items'), [])
    } finally {
      await store.close()
    }
  })
}

test('sqlite: the store file and its WAL files are owner-only (0600) in an owner-only folder (0700)', async () => {
  const path = join(dir.path, 'modes', 'orders.db')
  const store = await openStore('orders', { sqlitePath: path, migrations: ['CREATE TABLE t (v TEXT)'] })
  try {
    await store.run('INSERT INTO t (v) VALUES (?)', ['x'])
    assert.equal(statSync(join(dir.path, 'modes')).mode & 0o777, 0o700)
    for (const file of [path, `${path}-wal`, `${path}-shm`]) {
      assert.ok(existsSync(file), `${file} exists`)
      assert.equal(statSync(file).mode & 0o777, 0o600, `${file} is 0600`)
    }
    assert.equal(store.location, `sqlite ${path}`)
  } finally {
    await store.close()
  }
})

test('`?` placeholders become $n outside string literals, quoted identifiers and comments', () => {
  assert.deepEqual(toPostgresPlaceholders(`SELECT '?', "a?", E'\\'?', ? -- ?\n, /* ? */ $$?$$, $t$ ? $t$, ?`), {
    text: `SELECT '?', "a?", E'\\'?', $1 -- ?\n, /* ? */ $$?$$, $t$ ? $t$, $2`, count: 2,
  })
  assert.deepEqual(toPostgresPlaceholders("INSERT INTO t VALUES (?, 'it''s ?', ?)"), { text: "INSERT INTO t VALUES ($1, 'it''s ?', $2)", count: 2 })
})

test('postgres: each component keeps its tables in its own schema, bulwark_<component>', { skip: pgSkip }, async () => {
  const store = await openStore('shop-catalog', { sqlitePath: 'unused', storage: { postgres: { url: pgUrl } }, migrations: ['CREATE TABLE products (id TEXT)'] })
  try {
    const rows = await store.all<{ table_schema: string }>("SELECT table_schema FROM information_schema.tables WHERE table_name = 'products'")
    assert.deepEqual(rows, [{ table_schema: 'bulwark_shop_catalog' }])
    assert.match(store.location, /^postgres 127\.0\.0\.1:\d+\/contract_[0-9a-f]+ schema bulwark_shop_catalog$/)
    assert.ok(!store.location.includes(server!.password))
  } finally {
    await store.close()
  }
})

test('postgres: a component connecting with its own role cannot read or touch another component\'s schema', { skip: pgSkip }, async () => {
  const url = await server!.createDatabase('iso')
  const database = new URL(url).pathname.slice(1)
  const passwords = { iso_a: randomBytes(12).toString('hex'), iso_b: randomBytes(12).toString('hex') }
  // The SQL docs/postgres.md gives operators: once, then one block per component.
  await server!.admin(`REVOKE ALL ON DATABASE ${database} FROM PUBLIC; REVOKE CREATE ON SCHEMA public FROM PUBLIC;`, database)
  for (const [component, password] of Object.entries(passwords)) {
    await server!.admin(`CREATE ROLE bulwark_${component} LOGIN PASSWORD '${password}';
      CREATE SCHEMA bulwark_${component} AUTHORIZATION bulwark_${component};
      GRANT CONNECT ON DATABASE ${database} TO bulwark_${component};`, database)
  }
  const open = (component: 'iso_a' | 'iso_b') => openStore(component, {
    sqlitePath: 'unused', storage: { postgres: { url: server!.urlFor(database, { name: `bulwark_${component}`, password: passwords[component] }) } },
    migrations: ['CREATE TABLE secrets (v TEXT)'],
  })
  const a = await open('iso_a')
  const b = await open('iso_b')
  try {
    await a.run('INSERT INTO secrets (v) VALUES (?)', ['a-only'])
    for (const sql of ['SELECT * FROM bulwark_iso_a.secrets', "INSERT INTO bulwark_iso_a.secrets (v) VALUES ('x')", 'DROP TABLE bulwark_iso_a.secrets', 'CREATE SCHEMA bulwark_iso_c']) {
      await assert.rejects(b.run(sql), (error: { sqlState?: string }) => error.sqlState === '42501', sql)
    }
    assert.deepEqual(await a.all('SELECT v FROM secrets'), [{ v: 'a-only' }])
    assert.deepEqual(await b.all('SELECT v FROM secrets'), [], 'b has its own table of the same name')
  } finally {
    await a.close()
    await b.close()
  }
})

test('postgres: the URL\'s password never appears in a store error, its inspection or a log line', { skip: pgSkip }, async () => {
  const secret = `pw-${randomBytes(8).toString('hex')}`
  const lines: string[] = []
  const log = createLogger({ name: 'test', destination: { write: (line: string) => { lines.push(line) } } })
  const closedPort = await freePort()
  const cases: Array<{ url: string; expect: RegExp }> = [
    { url: `postgres://bulwark_test:${secret}@127.0.0.1:${closedPort}/bulwark`, expect: new RegExp(`^postgres 127\\.0\\.0\\.1:${closedPort}/bulwark \\(user \`bulwark_test\`\\): .*ECONNREFUSED`) },
    { url: server!.url.replace(`:${encodeURIComponent(server!.password)}@`, `:${secret}@`), expect: /password authentication failed/ },
    { url: `postgres://bulwark_test:${secret}@127.0.0.1:notaport/bulwark`, expect: /not a valid URL/ },
  ]
  for (const { url, expect } of cases) {
    const error = await openStore('policy', { sqlitePath: 'unused', storage: { postgres: { url } } }).then(() => undefined, (e: unknown) => e as Error)
    assert.ok(error, `${url.replace(secret, '***')} is refused`)
    assert.match(error.message, expect)
    log.error({ err: error }, 'store failed')
    log.info({ bootstrap: { component: 'policy', storage: { postgres: { url } } } }, 'bootstrap received')
    for (const text of [error.message, String(error.stack), inspect(error, { depth: 10 }), JSON.stringify(error), ...lines]) {
      assert.ok(!text.includes(secret), `the password leaked: ${text.replaceAll(secret, '***')}`)
    }
  }
})
