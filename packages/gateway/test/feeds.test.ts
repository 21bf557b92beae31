// The long-poll feeds: catch up at once, then wait; never a busy loop.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { once } from 'node:events'
import { Agent } from 'undici'
import { createSilentLogger } from '@bulwark/core'
import { startLongPoll } from '../src/feeds/long-poll.ts'

test('asks wait=0 first, then the configured wait, and applies entries in order', async () => {
  const asked: string[] = []
  let entries = [{ seq: 1, kind: 'subject', value: 'a' }]
  const server = createServer((req, res) => {
    asked.push(req.url!)
    const after = Number(new URL(req.url!, 'http://x').searchParams.get('after'))
    const fresh = entries.filter((e) => e.seq > after)
    res.end(JSON.stringify({ seq: entries.length, entries: fresh }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const seen: unknown[] = []
  const dispatcher = new Agent()
  const feed = startLongPoll({ name: 't', url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, path: '/feed', dispatcher, waitSeconds: 7, log: createSilentLogger(), onEntries: (e) => seen.push(...e) })
  await feed.synced
  assert.equal(asked[0], '/feed?after=0&wait=0')
  entries = [...entries, { seq: 2, kind: 'jti', value: 'b' }]
  while (seen.length < 2) await new Promise((r) => setImmediate(r))
  assert.equal(asked[1], '/feed?after=1&wait=7')
  assert.equal(feed.seq, 2)
  const count = asked.length
  await new Promise((r) => setTimeout(r, 300))
  assert.ok(asked.length - count <= 1, `a feed answering at once with nothing is not polled in a loop (${asked.length - count} calls)`)
  feed.stop()
  await dispatcher.close()
  server.close()
})
