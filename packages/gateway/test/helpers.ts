// A whole little world for gateway tests: a testkit CA, a jose-signed issuer
// standing in for identity (JWKS, token exchange, revocation feed), an audit
// block feed, the upstreams in a child process, all over real mTLS, and the
// gateway itself listening on localhost.
import { fork, type ChildProcess } from 'node:child_process'
import { connect } from 'node:tls'
import { once } from 'node:events'
import { Agent, request } from 'undici'
import { SignJWT, exportJWK, generateKeyPair, createLocalJWKSet, jwtVerify, type JWTPayload, type JWK } from 'jose'
import {
  attachMtls, createManualClock, createMemoryAuditSink, createMetrics, createMtlsAgent, createServiceServer, createSilentLogger,
  expectSpiffeId, mtlsServerOptions, requirePeer, type AuditEvent, type Svid,
} from '@bulwark/core'
import { createTestCa, freePort, type TestCa } from '@bulwark/testkit'
import { createGateway, type Gateway } from '../src/index.ts'
import { createFixtureAuthorizer } from './fixtures/cedar-authorizer.ts'

export const SHOP = ['catalog', 'users', 'orders', 'payments'] as const

type Feed = { entries: Array<Record<string, unknown>>; waiters: Set<() => void> }

function createFeed(): Feed & { push(entry: Record<string, unknown>): void } {
  const feed: Feed = { entries: [], waiters: new Set() }
  return Object.assign(feed, {
    push(entry: Record<string, unknown>) {
      feed.entries.push({ seq: feed.entries.length + 1, ...entry })
      for (const wake of feed.waiters) wake()
      feed.waiters.clear()
    },
  })
}

async function serveFeed(feed: Feed, query: Record<string, string>) {
  const after = Number(query.after ?? 0)
  const wait = Math.min(Number(query.wait ?? 0), 30)
  if (feed.entries.length <= after && wait > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, wait * 1000)
      feed.waiters.add(() => { clearTimeout(timer); resolve() })
    })
  }
  return { seq: feed.entries.length, entries: feed.entries.filter((e) => Number(e.seq) > after) }
}

export type World = Awaited<ReturnType<typeof createWorld>>

export async function createWorld(options: { config?: Record<string, unknown>; manualClock?: boolean } = {}) {
  const ca: TestCa = await createTestCa()
  const td = ca.trustDomain
  const id = (name: string) => `spiffe://${td}/svc/${name}`
  const gatewaySource = await ca.source('gateway', { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] })
  const port = await freePort()
  const publicUrl = `https://localhost:${port}`
  const clock = options.manualClock ? createManualClock(Date.now()) : undefined
  const now = () => clock?.now() ?? Date.now()

  // The issuer standing in for identity.
  const signing = await generateKeyPair('RS256', { extractable: true })
  const jwks: { keys: JWK[] } = { keys: [{ ...await exportJWK(signing.publicKey), kid: 'k1', alg: 'RS256', use: 'sig' }] }
  let signingKey = signing.privateKey
  let signingKid = 'k1'
  const identityState = { jwksFetches: 0, exchanges: 0, refuseExchange: false, lastExchange: undefined as Record<string, string> | undefined }
  const revocationFeed = createFeed()
  const blockFeed = createFeed()
  const servers: Array<{ close(): Promise<unknown> }> = []

  async function mtlsServer(name: string, register: (app: ReturnType<typeof createServiceServer>) => void) {
    const source = await ca.source(name)
    const app = createServiceServer({ name, log: createSilentLogger(), https: mtlsServerOptions(source) })
    attachMtls(app.server as never, source)
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_r, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))))
    app.get('/readyz', async () => ({ status: 'ready' }))
    register(app)
    await app.listen({ host: '127.0.0.1', port: 0 })
    servers.push(app)
    return { url: `https://127.0.0.1:${(app.server.address() as { port: number }).port}`, spiffeId: source.current().spiffeId }
  }

  const identity = await mtlsServer('identity', (app) => {
    app.get('/oauth2/jwks', async () => { identityState.jwksFetches++; return jwks })
    app.get('/.well-known/openid-configuration', async (request) => ({
      issuer: publicUrl, seenAuthorization: request.headers.authorization ?? null, cookie: request.headers.cookie ?? null,
      forwarded: { for: request.headers['x-forwarded-for'], proto: request.headers['x-forwarded-proto'], host: request.headers['x-forwarded-host'], requestId: request.headers['x-request-id'] },
    }))
    app.post('/oauth2/token', async (request, reply) => {
      requirePeer(request, (peer) => peer === id('gateway'))
      const form = request.body as Record<string, string>
      identityState.exchanges++
      identityState.lastExchange = form
      if (identityState.refuseExchange) return reply.code(400).send({ error: 'invalid_grant' })
      const { payload } = await jwtVerify(form.subject_token!, createLocalJWKSet(jwks), { issuer: publicUrl, typ: 'at+jwt' })
      const token = await sign({ sub: payload.sub, client_id: payload.client_id, scope: payload.scope, roles: payload.roles, act: { sub: id('gateway') } }, { audience: form.audience, ttl: 120 })
      return { access_token: token, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 120 }
    })
    app.get('/admin/v1/revocations', async (request) => serveFeed(revocationFeed, request.query as Record<string, string>))
  })
  const audit = await mtlsServer('audit', (app) => {
    app.get('/v1/blocks', async (request) => serveFeed(blockFeed, request.query as Record<string, string>))
  })

  // Upstreams in their own process.
  const svids: Record<string, Svid> = {}
  for (const name of SHOP) svids[name] = await ca.issue(name)
  const child: ChildProcess = fork(new URL('./fixtures/upstream-process.ts', import.meta.url), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  child.send({ type: 'start', svids, gatewayId: id('gateway') })
  const [ready] = await once(child, 'message') as [{ ports: Record<string, number> }]
  async function ask<T>(type: string): Promise<T> {
    child.send({ type })
    for (;;) {
      const [message] = await once(child, 'message') as [{ type: string } & T]
      if (message.type === type) return message
    }
  }

  const urls: Record<string, { url: string; spiffeId: string }> = { identity, audit }
  for (const name of SHOP) urls[name] = { url: `https://127.0.0.1:${ready.ports[name]}`, spiffeId: id(name) }
  const agents = new Map<string, Agent>()
  const peer = (name: string) => {
    const target = urls[name]
    if (!target) throw new TypeError(`unknown peer \`${name}\``)
    let dispatcher = agents.get(name)
    if (!dispatcher) agents.set(name, dispatcher = createMtlsAgent(gatewaySource, { verifyPeer: expectSpiffeId(target.spiffeId) }))
    return { ...target, dispatcher }
  }
  const auditSink = createMemoryAuditSink('gateway')
  const metrics = createMetrics('gateway')
  const gateway: Gateway = createGateway({ feeds: { waitSeconds: 5 }, health: { pollIntervalMs: 200 }, ...options.config }, {
    log: createSilentLogger(), metrics, audit: auditSink, clock, svid: gatewaySource, authorizer: createFixtureAuthorizer(),
    peer, healthPeers: ['identity', 'audit', ...SHOP], publicUrl,
  })
  await gateway.app.listen({ host: 'localhost', port })
  const client = new Agent({ connect: { ca: ca.rootPem, servername: 'localhost' }, allowH2: false })

  async function sign(claims: JWTPayload, opts: { audience?: string | string[]; ttl?: number; typ?: string; kid?: string; iat?: number; nbf?: number; issuer?: string } = {}) {
    const t = Math.floor(now() / 1000)
    const jwt = new SignJWT({ ...claims }).setProtectedHeader({ alg: 'RS256', typ: opts.typ ?? 'at+jwt', kid: opts.kid ?? signingKid })
      .setIssuer(opts.issuer ?? publicUrl).setAudience(opts.audience ?? publicUrl).setIssuedAt(opts.iat ?? t).setExpirationTime(t + (opts.ttl ?? 300)).setJti(`jti-${Math.random().toString(36).slice(2)}`)
    if (opts.nbf !== undefined) jwt.setNotBefore(opts.nbf)
    return jwt.sign(signingKey)
  }

  return {
    ca, td, id, publicUrl, port, gateway, audit: auditSink, metrics, clock, identityState, revocationFeed, blockFeed, gatewaySource, urls,
    signingKeys: signing,
    /** A valid access token for `sub` (a user unless `sub === client_id`). */
    token(sub = 'alice', extra: JWTPayload = {}, opts: Parameters<typeof sign>[1] = {}) {
      return sign({ sub, client_id: 'shop-cli', scope: 'openid', roles: ['customer'], ...extra }, opts)
    },
    sign,
    async rotateSigningKey(kid: string) {
      const next = await generateKeyPair('RS256', { extractable: true })
      jwks.keys.push({ ...await exportJWK(next.publicKey), kid, alg: 'RS256', use: 'sig' })
      signingKey = next.privateKey
      signingKid = kid
    },
    async fetch(path: string, init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}) {
      const response = await request(`https://localhost:${port}${path}`, { dispatcher: client, method: (init.method ?? 'GET') as never, headers: init.headers, body: init.body })
      const text = await response.body.text()
      let json: any
      try { json = JSON.parse(text) } catch { json = undefined }
      return { status: response.statusCode, headers: response.headers as Record<string, string>, text, json }
    },
    /** Sends raw bytes over TLS and returns what came back before the server closed or went quiet. */
    async raw(bytes: string): Promise<string> {
      const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.rootPem, ALPNProtocols: ['http/1.1'] })
      await once(socket, 'secureConnect')
      socket.write(bytes)
      let out = ''
      socket.setEncoding('latin1')
      socket.on('data', (chunk: string) => { out += chunk })
      await Promise.race([once(socket, 'close'), new Promise((r) => setTimeout(r, 1500))])
      socket.destroy()
      return out
    },
    async seen(): Promise<Array<{ service: string; method: string; url: string; headers: Record<string, unknown>; body: string }>> {
      return (await ask<{ seen: never[] }>('seen')).seen
    },
    async resetSeen() { await ask('reset') },
    events(type?: string): AuditEvent[] { return auditSink.events.filter((e) => !type || e.type === type) },
    async close() {
      await gateway.close()
      await client.close()
      for (const agent of agents.values()) await agent.close()
      for (const server of servers) await server.close()
      child.disconnect()
      child.kill()
    },
  }
}
