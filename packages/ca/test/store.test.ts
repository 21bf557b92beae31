// The CA's inventory on both engines (its SQLite file, and a real PostgreSQL
// from testkit), and two CA replicas on one PostgreSQL over real TLS: a join
// token redeemed at one cannot be redeemed at the other, not even at the same
// moment; a revocation or quarantine at one is enforced by the other; the CA's
// keys never reach the database.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { Agent, request } from 'undici'
import { serviceSpiffeId, type BootstrapMessage } from '@bulwark/core'
import { createKeyAndCsr, obtainSvid } from '@bulwark/sdk/svid'
import { findPostgresBinaries, postgresSkipReason, startPostgres, type TestPostgres } from '@bulwark/testkit'
import { startHarness, TD, type Harness } from './helpers.ts'

const pgSkip = postgresSkipReason()
let server: TestPostgres | undefined
before(async () => { if (!pgSkip) server = await startPostgres() })
after(async () => { await server?.stop() })

const engines: Array<{ name: string; skip: string | false; storage(): Promise<BootstrapMessage['storage']> }> = [
  { name: 'sqlite', skip: false, storage: async () => undefined },
  { name: 'postgres', skip: pgSkip, storage: async () => ({ postgres: { url: await server!.createDatabase('ca') } }) },
]

/** The base64 bodies of every PEM private key in the CA's key files. */
function keyBodies(h: Harness): string[] {
  const files = [h.paths.rootKey, h.paths.intermediateKey].filter((f) => existsSync(f))
  assert.ok(files.length >= 1)
  return files.map((f) => readFileSync(f, 'utf8').replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''))
}

function dump(url: string): string {
  const parsed = new URL(url)
  const pgCtl = findPostgresBinaries()!.pgCtl
  const pgDump = [join(dirname(pgCtl), 'pg_dump'), join(dirname(realpathSync(pgCtl)), 'pg_dump')].find((p) => existsSync(p))!
  const out = spawnSync(pgDump, ['-h', parsed.hostname, '-p', parsed.port, '-U', decodeURIComponent(parsed.username), '--no-owner', parsed.pathname.slice(1)], {
    encoding: 'utf8', env: { ...process.env, PGPASSWORD: decodeURIComponent(parsed.password) }, maxBuffer: 64 * 1024 * 1024,
  })
  assert.equal(out.status, 0, `${String(out.error)} ${out.stderr}`)
  return out.stdout
}

const orders = serviceSpiffeId(TD, 'orders')

for (const engine of engines) {
  test(`${engine.name}: inventory, join tokens, revocation and quarantine; the CA's keys and join tokens never reach the database`, { skip: engine.skip }, async () => {
    const storage = await engine.storage()
    const h = await startHarness({ svidTtlSeconds: 600 }, { storage })
    try {
      const token = await h.joinToken(orders)
      const svid = await obtainSvid({ caUrl: h.url, rootPem: h.rootPem, joinToken: token, spiffeId: orders })
      await assert.rejects(obtainSvid({ caUrl: h.url, rootPem: h.rootPem, joinToken: token, spiffeId: orders }), { code: 'BW_CA_JOIN_TOKEN_REUSED' })
      const listed = await h.op('GET', `/v1/certs?spiffeId=${encodeURIComponent(orders)}`)
      assert.deepEqual(listed.body.certs.map((c: { serial: string }) => c.serial), [svid.serial])
      const v0 = (await h.op('GET', '/v1/bundle')).body.version
      assert.equal((await h.op('POST', `/v1/certs/${svid.serial}/revoke`, { reason: 'keyCompromise' })).status, 200)
      assert.equal((await h.op('POST', '/v1/quarantine', { service: 'payments' })).status, 200)
      const bundle = (await h.op('GET', '/v1/bundle')).body
      assert.equal(bundle.version, v0 + 2)
      assert.deepEqual(bundle.revokedSerials, [svid.serial])
      assert.deepEqual(bundle.quarantined, [serviceSpiffeId(TD, 'payments')])

      const stored = storage?.postgres ? dump(storage.postgres.url) : ['', '-wal'].map((s) => existsSync(h.paths.database('ca') + s) ? readFileSync(h.paths.database('ca') + s, 'latin1') : '').join('')
      assert.ok(stored.includes(svid.serial), 'the search looks at the inventory')
      for (const body of keyBodies(h)) {
        assert.equal(stored.includes(body.slice(0, 40)), false, 'a CA private key is in the database')
        assert.equal(stored.includes(Buffer.from(body, 'base64').toString('hex').slice(0, 64)), false, 'a CA private key (hex) is in the database')
      }
      assert.equal(stored.includes(token), false, 'a join token is in the database (only its hash may be)')
    } finally {
      await h.close()
    }
  })
}

async function twoReplicas(): Promise<[Harness, Harness]> {
  const storage = { postgres: { url: await server!.createDatabase('carep') } }
  const a = await startHarness({ svidTtlSeconds: 600 }, { storage })
  const b = await startHarness({ svidTtlSeconds: 600 }, { storage, shareWith: a })
  return [a, b]
}

test('postgres: a join token used at one CA replica cannot be used at another, not even at the same moment', { skip: pgSkip }, async () => {
  const [a, b] = await twoReplicas()
  const anonymous = new Agent({ connect: { ca: a.rootPem, rejectUnauthorized: true, checkServerIdentity: () => undefined } })
  const join = async (url: string, joinToken: string) => {
    const { csrPem } = await createKeyAndCsr({ spiffeId: orders })
    const res = await request(`${url}/v1/svid/join`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ joinToken, csr: csrPem }), dispatcher: anonymous })
    return { status: res.statusCode, body: await res.body.json() as { code?: string; serial?: string } }
  }
  try {
    assert.notEqual(a.url, b.url)
    const first = await a.joinToken(orders)
    assert.equal((await join(a.url, first)).status, 200)
    const reused = await join(b.url, first)
    assert.deepEqual([reused.status, reused.body.code], [401, 'BW_CA_JOIN_TOKEN_REUSED'])
    for (let round = 0; round < 8; round++) {
      const token = await (round % 2 ? b : a).joinToken(orders)
      const results = await Promise.all([join(a.url, token), join(b.url, token)])
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 401], `round ${round}: ${JSON.stringify(results.map((r) => r.body.code ?? r.body.serial))}`)
      assert.equal(results.find((r) => r.status === 401)!.body.code, 'BW_CA_JOIN_TOKEN_REUSED')
    }
    const issued = (await b.op('GET', `/v1/certs?spiffeId=${encodeURIComponent(orders)}`)).body.certs
    assert.equal(issued.length, 9, 'one certificate per token, whichever replica issued it')
  } finally {
    await anonymous.close()
    await a.close()
    await b.close()
  }
})

test('postgres: a revocation or quarantine at one CA replica is enforced and published by the other', { skip: pgSkip }, async () => {
  const [a, b] = await twoReplicas()
  try {
    const svid = await obtainSvid({ caUrl: a.url, rootPem: a.rootPem, joinToken: await a.joinToken(orders), spiffeId: orders })
    const asOrders = b.agentFor(svid)
    assert.equal((await b.call(asOrders, 'GET', '/v1/bundle')).status, 200)
    const before = (await b.op('GET', '/v1/bundle')).body.version
    // A long-poll at B wakes for a revocation made at A.
    const waiting = b.op('GET', `/v1/bundle?version=${before}&wait=20`)
    await new Promise((resolve) => setTimeout(resolve, 200))
    const revokedAt = Date.now()
    assert.equal((await a.op('POST', `/v1/certs/${svid.serial}/revoke`, { reason: 'keyCompromise' })).status, 200)
    const woke = await waiting
    assert.ok(Date.now() - revokedAt < 5000, `B's long-poll woke ${Date.now() - revokedAt} ms after the revocation`)
    assert.deepEqual(woke.body.revokedSerials, [svid.serial])
    assert.equal((await b.call(asOrders, 'GET', '/v1/bundle')).status, 401, 'B refuses the certificate revoked at A')

    assert.equal((await a.op('POST', '/v1/quarantine', { service: 'orders' })).status, 200)
    const refused = await b.op('POST', '/v1/certs/issue', { service: 'orders', csr: (await createKeyAndCsr({ spiffeId: orders })).csrPem })
    assert.equal(refused.body.code, 'BW_CA_QUARANTINED', 'B issues nothing to an identity quarantined at A')
    assert.deepEqual((await b.op('GET', '/v1/bundle')).body.quarantined, [orders])
  } finally {
    await a.close()
    await b.close()
  }
})
