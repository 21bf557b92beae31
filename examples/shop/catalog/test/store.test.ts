// The catalog store on both engines (embedded SQLite and a real PostgreSQL
// from testkit), and the catalog service over mTLS on PostgreSQL: replicas
// seed once, pages walk every product once, an admin's product is readable
// at the other replica.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { postgresSkipReason, startPostgres, tempDir, type TestPostgres } from '@bulwark/testkit'
import { api, startTestPlatform } from '../../../../packages/sdk/test/service-support/index.ts'
import { createCatalog, SEED_PRODUCTS } from '../src/index.ts'
import { openCatalogStore, type CatalogStoreOptions } from '../src/store.ts'
import { seedCatalog } from '../src/seed.ts'

const pgSkip = postgresSkipReason()
let server: TestPostgres | undefined
const dir = tempDir('bulwark-catalog-store-')

before(async () => { if (!pgSkip) server = await startPostgres() })
after(async () => {
  await server?.stop()
  dir.remove()
})

const engines: Array<{ name: string; skip: string | false; place(): Promise<CatalogStoreOptions> }> = [
  { name: 'sqlite', skip: false, place: async () => ({ sqlitePath: join(dir.path, `catalog-${Math.random().toString(36).slice(2)}.db`) }) },
  { name: 'postgres', skip: pgSkip, place: async () => ({ sqlitePath: 'unused', storage: { postgres: { url: await server!.createDatabase('catalog') } } }) },
]

for (const engine of engines) {
  test(`${engine.name}: seeds once, creates, reads, counts and pages by key`, { skip: engine.skip }, async () => {
    const store = await openCatalogStore(await engine.place())
    try {
      assert.equal(await seedCatalog(store, Date.UTC(2026, 0, 1)), SEED_PRODUCTS.length)
      assert.equal(await seedCatalog(store, Date.UTC(2026, 0, 1)), 0)
      const made = await store.create({ name: 'Key', price: 4500, currency: 'EUR' }, Date.UTC(2026, 0, 2))
      assert.deepEqual(await store.get(made.id), made)
      assert.equal(await store.get('prod_nope'), undefined)
      assert.equal(await store.count(), SEED_PRODUCTS.length + 1)
      const seen: string[] = []
      let after = 0
      for (;;) {
        const page = await store.list(5, after)
        seen.push(...page.items.map((p) => p.id))
        if (!page.more) break
        after = page.lastSeq!
        assert.equal(typeof after, 'number')
      }
      assert.equal(seen.length, SEED_PRODUCTS.length + 1)
      assert.equal(new Set(seen).size, seen.length)
      assert.equal(seen.at(-1), made.id)
    } finally {
      await store.close()
    }
  })
}

test('postgres: catalog replicas starting at once seed the demo products once', { skip: pgSkip }, async () => {
  const place = await engines[1]!.place()
  const stores = await Promise.all(Array.from({ length: 3 }, () => openCatalogStore(place)))
  try {
    const seeded = await Promise.all(stores.map((s) => seedCatalog(s, Date.now())))
    assert.deepEqual(seeded.toSorted((a, b) => b - a), [SEED_PRODUCTS.length, 0, 0])
    assert.equal(await stores[2]!.count(), SEED_PRODUCTS.length)
  } finally {
    await Promise.all(stores.map((s) => s.close()))
  }
})

test('postgres: two catalog replicas over mTLS on one database serve the same products', { skip: pgSkip }, async () => {
  const storage = { postgres: { url: await server!.createDatabase('catalogsvc') } }
  const p = await startTestPlatform()
  const replicas = await Promise.all([0, 1].map(async () => {
    const rt = await p.runtime('catalog')
    return createCatalog({ seed: true, defaultPageSize: 20 }, { rt: { ...rt, bootstrap: { ...rt.bootstrap, storage } }, authorizer: p.authorizer })
  }))
  try {
    const [a, b] = replicas
    assert.match(a!.store.location, /^postgres 127\.0\.0\.1:\d+\/catalogsvc_[0-9a-f]+ schema bulwark_catalog$/)
    const urlA = await p.serve('catalog', a!.app)
    const gateway = await p.client('gateway', 'catalog')
    const admin = await p.identity.tokenFor('catalog', { sub: 'admin', roles: ['admin'], amr: ['pwd', 'otp'] })
    const created = await api(gateway, urlA, 'POST', '/catalog/products', { body: { name: 'Made at replica A', price: 100 }, token: admin })
    assert.equal(created.status, 201)
    const urlB = await p.serve('catalog', b!.app)
    const list = await api(gateway, urlB, 'GET', '/catalog/products?limit=100')
    assert.equal(list.status, 200)
    assert.equal(list.body.items.length, SEED_PRODUCTS.length + 1, 'seeded once, plus the product made at A')
    assert.equal((await api(gateway, urlB, 'GET', `/catalog/products/${created.body.id}`)).body.name, 'Made at replica A')
  } finally {
    await p.close()
    for (const r of replicas) await r.close()
  }
})
