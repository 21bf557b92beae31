// The revocation feed's memory: it keeps a revocation as long as a token it kills can live, not forever.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { once } from 'node:events'
import { Agent } from 'undici'
import { createManualClock, createSilentLogger } from '@bulwark/core'
import { createRevocationFeed, type RevocationEntry } from '../src/service/index.ts'
import { REVOCATION_RETENTION_MS } from '../src/service/revocation-feed.ts'

test('the revocation feed drops a revocation once every token it could kill has expired, and keeps it until then', async () => {
  const clock = createManualClock(Date.UTC(2026, 0, 1))
  const at = () => new Date(clock.now()).toISOString()
  let seq = 0
  let polls = 0
  let pending: RevocationEntry[] = [
    ...Array.from({ length: 5000 }, (_, i) => ({ seq: ++seq, kind: 'jti' as const, value: `jti-${i}`, revokedAt: at() })),
    { seq: ++seq, kind: 'subject', value: 'alice', revokedAt: at() },
  ]
  // Identity's feed, reduced to what the client sees: what is new since `after`, answered after a short wait.
  const server = createServer((_req, res) => {
    setTimeout(() => {
      polls++
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ seq, entries: pending }))
      pending = []
    }, 20)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  const dispatcher = new Agent()
  const feed = createRevocationFeed({ url: `http://127.0.0.1:${port}/admin/v1/revocations`, dispatcher, log: createSilentLogger(), clock, waitSeconds: 1, maxStalenessMs: 10 * REVOCATION_RETENTION_MS })
  const nextPolls = async (n: number) => { const target = polls + n; while (polls < target) await new Promise((r) => setTimeout(r, 5)) }
  const revoked = (token: { sub: string; jti?: string; iat: number }) => { try { feed.check(token); return false } catch (e) { return (e as { code?: string }).code === 'BW_AUTHN_TOKEN_REVOKED' } }
  try {
    await feed.ready(5000)
    const issued = clock.now() / 1000 - 60
    assert.equal(feed.size, 5001)
    // An hour later (identity's longest access token), every revocation still holds.
    clock.advance(60 * 60 * 1000)
    pending = [{ seq: ++seq, kind: 'jti', value: 'later', revokedAt: at() }]
    await nextPolls(2)
    assert.equal(feed.size, 5002)
    assert.equal(true, revoked({ sub: 'bob', jti: 'jti-42', iat: issued }))
    assert.equal(true, revoked({ sub: 'alice', iat: issued }))
    // Past the retention, the old ones go and the recent one stays.
    clock.advance(REVOCATION_RETENTION_MS)
    await nextPolls(2)
    assert.equal(feed.size, 1)
    assert.equal(true, revoked({ sub: 'bob', jti: 'later', iat: issued }))
  } finally {
    feed.stop()
    await dispatcher.close()
    server.closeAllConnections()
    server.close()
  }
})
