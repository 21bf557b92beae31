// The long-poll feeds: catch up at once, then wait; never a busy loop.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import { Agent } from 'undici'
import { createSilentLogger } from '@bulwark/core'
import { startLongPoll } from '../src/feeds/long-poll.ts'
import { createRevocationList, REVOCATION_RETENTION_MS } from '../src/feeds/revocations.ts'

async function withFeed(handler: (req: IncomingMessage, res: ServerResponse) => void, run: (url: string, dispatcher: Agent) => Promise<void>) {
  const server = createServer(handler)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const dispatcher = new Agent()
  try {
    await run(`http://127.0.0.1:${(server.address() as { port: number }).port}`, dispatcher)
  } finally {
    await dispatcher.destroy()
    server.closeAllConnections()
    server.close()
  }
}

test('asks wait=0 first, then the configured wait, and applies entries in order', async () => {
  const asked: string[] = []
  const entries: Array<{ seq: number; kind: string; value: string }> = [{ seq: 1, kind: 'subject', value: 'a' }]
  const waiting = new Set<() => void>()
  await withFeed((req, res) => {
    asked.push(req.url!)
    const params = new URL(req.url!, 'http://x').searchParams
    const after = Number(params.get('after'))
    const answer = () => res.end(JSON.stringify({ seq: entries.length, entries: entries.filter((e) => e.seq > after) }))
    if (entries.length > after || params.get('wait') === '0') return answer()
    waiting.add(answer) // a real long-poll: held until news
  }, async (url, dispatcher) => {
    const seen: Array<Record<string, unknown>> = []
    const feed = startLongPoll({ name: 't', url, path: '/feed', dispatcher, waitSeconds: 7, log: createSilentLogger(), onEntries: (e) => seen.push(...e) })
    try {
      await feed.synced
      assert.equal(asked[0], '/feed?after=0&wait=0')
      while (waiting.size === 0) await new Promise((r) => setTimeout(r, 5))
      assert.equal(asked[1], '/feed?after=1&wait=7')
      entries.push({ seq: 2, kind: 'jti', value: 'b' })
      for (const wake of waiting) wake()
      waiting.clear()
      while (seen.length < 2) await new Promise((r) => setTimeout(r, 5))
      assert.deepEqual(seen.map((e) => e.value), ['a', 'b'])
      assert.equal(feed.seq, 2)
    } finally {
      feed.stop()
    }
  })
})

test('a feed that answers at once with nothing is not polled in a tight loop', async () => {
  let calls = 0
  await withFeed((_req, res) => { calls++; res.end('{"seq":0,"entries":[]}') }, async (url, dispatcher) => {
    const feed = startLongPoll({ name: 't', url, path: '/feed', dispatcher, waitSeconds: 7, log: createSilentLogger(), onEntries: () => {} })
    try {
      await feed.synced
      const before = calls
      await new Promise((r) => setTimeout(r, 500))
      assert.ok(calls - before <= 2, `${calls - before} calls in 500 ms`)
    } finally {
      feed.stop()
    }
  })
})

test('the revocation list keeps a revocation while a token it kills can live, and drops it after (bounded by the retention)', () => {
  let now = Date.UTC(2026, 0, 1)
  const list = createRevocationList({ now: () => now })
  const issued = now / 1000 - 60
  const at = (ms: number) => new Date(ms).toISOString()
  list.apply(Array.from({ length: 5000 }, (_, i) => ({ seq: i + 1, kind: 'jti', value: `jti-${i}`, revokedAt: at(now) })))
  list.apply([{ seq: 5001, kind: 'subject', value: 'alice', revokedAt: at(now) }, { seq: 5002, kind: 'client', value: 'shop-cli', revokedAt: at(now) }])
  assert.equal(list.size, 5002)
  // An hour later (identity's longest access token): every revocation still holds.
  now += 60 * 60 * 1000
  list.apply([{ seq: 5003, kind: 'jti', value: 'later', revokedAt: at(now) }])
  assert.equal(list.size, 5003)
  assert.equal(list.isRevoked({ jti: 'jti-42', sub: 'bob', iat: issued }), true)
  assert.equal(list.isRevoked({ sub: 'alice', iat: issued }), true)
  assert.equal(list.isRevoked({ sub: 'bob', client_id: 'shop-cli', iat: issued }), true)
  // Past the retention the old entries go; the recent one stays.
  now += REVOCATION_RETENTION_MS
  list.apply([])
  assert.equal(list.size, 1)
  assert.equal(list.isRevoked({ jti: 'later', sub: 'bob', iat: issued }), true)
})
