// Alerts end to end through the service: stored and listed, written to the
// log, sent to a webhook, and answered (account lock at a real mTLS identity
// endpoint; IP/client blocks on the gateway's long-poll feed).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage } from 'node:http'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { attachMtls, createMtlsAgent, mtlsServerOptions, peerOf, serviceSpiffeId } from '@bulwark/core'
import { createTestCa } from '@bulwark/testkit'
import { createIdentityLocker } from '../src/responders.ts'
import { startAudit, makeEvent } from './helpers.ts'

const ca = await createTestCa()

// A small real identity endpoint: only the lock route, mTLS, records the caller.
const locks: Array<{ caller?: string; id: string; body: unknown }> = []
let lockArrived: () => void = () => {}
const identitySource = await ca.source('identity')
const identity = Fastify({ https: mtlsServerOptions(identitySource) } as never) as unknown as FastifyInstance
identity.post('/admin/v1/users/:id/lock', async (request: FastifyRequest) => {
  locks.push({ caller: peerOf(request.raw.socket as never)?.spiffeId, id: (request.params as { id: string }).id, body: request.body })
  lockArrived()
  return { locked: true }
})
attachMtls(identity.server as never, identitySource)
await identity.listen({ host: '127.0.0.1', port: 0 })
const identityUrl = `https://127.0.0.1:${(identity.server.address() as { port: number }).port}`
const auditAgent = createMtlsAgent(await ca.source('audit'), { verifyPeer: (id) => id === serviceSpiffeId(ca.trustDomain, 'identity') })

const hooks: unknown[] = []
let hookArrived: () => void = () => {}
const webhook = createServer((req: IncomingMessage, res) => {
  let body = ''
  req.on('data', (c) => { body += c })
  req.on('end', () => { hooks.push(JSON.parse(body)); res.end('ok'); hookArrived() })
})
await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve))
const webhookUrl = `http://127.0.0.1:${(webhook.address() as { port: number }).port}/hook`

const harness = await startAudit({ ca, lockAccount: createIdentityLocker({ url: identityUrl, dispatcher: auditAgent }), config: { webhookUrl } })
after(async () => {
  await harness.close()
  await identity.close()
  await auditAgent.close()
  webhook.close()
})
const idp = await harness.client('identity')
const gateway = await harness.client('gateway')
const operator = await harness.operator()

test('brute force locks the account at identity (as svc/audit), stores the alert, logs it and calls the webhook', async () => {
  const locked = new Promise<void>((resolve) => { lockArrived = resolve })
  const hooked = new Promise<void>((resolve) => { hookArrived = resolve })
  const events = Array.from({ length: 10 }, () => makeEvent('identity', { type: 'login.failed', actor: { kind: 'user', id: 'bob', ip: '203.0.113.20' }, outcome: 'failure' }))
  assert.equal((await idp.call('POST', '/v1/events', { events })).status, 200)
  await locked
  await hooked
  assert.deepEqual(locks[0], { caller: serviceSpiffeId(ca.trustDomain, 'audit'), id: 'bob', body: locks[0]!.body })
  assert.equal((locks[0]!.body as { seconds: number }).seconds, 900)
  // Guessing passwords must not log the real user out: the lock asks for no session revocation.
  assert.equal((locks[0]!.body as { revokeSessions: boolean }).revokeSessions, false)
  const alerts = (await operator.call('GET', '/v1/alerts')).body.alerts
  const alert = alerts.find((a: any) => a.detector === 'brute_force')
  assert.ok(alert)
  assert.equal(alert.outcome.status, 'done')
  assert.equal((hooks[0] as any).alert.id, alert.id)
  await harness.service.audit.flush()
  const logged = (await operator.call('GET', '/v1/events?type=alert.raised')).body.entries
  assert.ok(logged.some((e: any) => e.event.details.alertId === alert.id && e.event.component === 'audit'))
})

test('repeated MFA failures lock the account at identity and ask it to revoke the sessions too', async () => {
  const locked = new Promise<void>((resolve) => { lockArrived = resolve })
  const events = Array.from({ length: 5 }, () => makeEvent('identity', { type: 'mfa.failed', actor: { kind: 'user', id: 'carol-id', ip: '203.0.113.21' }, outcome: 'failure' }))
  assert.equal((await idp.call('POST', '/v1/events', { events })).status, 200)
  await locked
  const lock = locks.find((l) => l.id === 'carol-id')!
  assert.equal(lock.caller, serviceSpiffeId(ca.trustDomain, 'audit'))
  assert.deepEqual({ ...(lock.body as object), reason: undefined }, { seconds: 900, reason: undefined, revokeSessions: true })
  const alert = (await operator.call('GET', '/v1/alerts')).body.alerts.find((a: any) => a.detector === 'mfa_failures')
  assert.match(alert.outcome.action, /revoke its sessions/)
})

test('password spraying blocks the address on the gateway feed (long-poll wakes up)', async () => {
  const before = (await gateway.call('GET', '/v1/blocks')).body.seq
  const waiting = gateway.call('GET', `/v1/blocks?after=${before}&wait=20`)
  const events = Array.from({ length: 10 }, (_, i) => makeEvent('identity', { type: 'login.failed', actor: { kind: 'user', id: `victim${i}`, ip: '203.0.113.66' }, outcome: 'failure' }))
  assert.equal((await idp.call('POST', '/v1/events', { events })).status, 200)
  const feed = (await waiting).body
  assert.equal(feed.blocks.length, 1)
  assert.equal(feed.blocks[0].kind, 'ip')
  assert.equal(feed.blocks[0].value, '203.0.113.66')
  assert.equal(feed.blocks[0].reason, 'password_spraying')
  assert.equal(Date.parse(feed.blocks[0].expiresAt) - Date.parse(feed.blocks[0].createdAt), 900_000)
  assert.ok(await harness.service.blocks.isBlocked('ip', '203.0.113.66'))
  harness.clock.advance(901_000)
  assert.equal(await harness.service.blocks.isBlocked('ip', '203.0.113.66'), false)
  assert.deepEqual((await gateway.call('GET', `/v1/blocks?after=${before}`)).body.blocks, [])
})

test('a loopback address is never blocked automatically; the alert says why', async () => {
  const events = Array.from({ length: 10 }, (_, i) => makeEvent('identity', { type: 'login.failed', actor: { kind: 'user', id: `local${i}`, ip: '127.0.0.1' }, outcome: 'failure', time: new Date(harness.clock.now()).toISOString() }))
  assert.equal((await idp.call('POST', '/v1/events', { events })).status, 200)
  await harness.service.audit.flush()
  const alert = (await operator.call('GET', '/v1/alerts')).body.alerts.find((a: any) => a.key === 'ip:127.0.0.1')
  assert.equal(alert.outcome.status, 'skipped')
  assert.equal(await harness.service.blocks.isBlocked('ip', '127.0.0.1'), false)
})

test('a fresh feed answers position 1, not 0, so a client starting at 0 gets a position it can wait on', async () => {
  const fresh = await startAudit({ ca })
  const gw = await fresh.client('gateway')
  const first = (await gw.call('GET', '/v1/blocks?after=0&wait=0')).body
  assert.deepEqual(first, { seq: 1, blocks: [], entries: [] })
  await fresh.close()
})

test('a block cursor from the future (a reset store) gets every active block at once', async () => {
  const feed = (await gateway.call('GET', '/v1/blocks?after=999999&wait=20')).body
  assert.ok(feed.seq < 999999)
  assert.deepEqual(feed.blocks, feed.entries)
})

test('rejects bad alert and block queries', async () => {
  assert.equal((await operator.call('GET', '/v1/alerts?limit=0')).status, 400)
  assert.equal((await gateway.call('GET', '/v1/blocks?wait=600')).status, 400)
})
