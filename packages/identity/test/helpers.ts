// Test harness: a real identity server over mTLS (testkit CA), a minimal
// TLS-terminating forwarder playing the gateway in front of it (it is the
// issuer, as the gateway is in production), and clients for each role.
// With `storage` (PostgreSQL), `addReplica()` starts more identity instances
// on the same database, master key and issuer; the forwarder balances like a
// gateway without sticky sessions: `route(i)` picks the replica requests go
// to, and a request's `x-test-replica` header overrides it.
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Agent, request as undiciRequest, fetch as undiciFetch } from 'undici'
import * as client from 'openid-client'
import type { BootstrapMessage } from '@bulwark/core'
import { createLogger, createManualClock, createMemoryAuditSink, createMtlsAgent, createSilentLogger, expectSpiffeId, loadConfig, serviceSpiffeId } from '@bulwark/core'
import { createTestCa, freePort, tempDir, type TestCa } from '@bulwark/testkit'
import { createIdentity, type Identity } from '../src/identity.ts'
import { IdentityConfigSchema, type IdentityConfig } from '../src/config.ts'
import { seedDemo, type DemoCredentials } from '../src/seed.ts'

export type Harness = {
  ca: TestCa
  identity: Identity
  /** Identity's own (mTLS) URL. */
  url: string
  /** The forwarder's URL = the issuer. */
  issuer: string
  audit: ReturnType<typeof createMemoryAuditSink>
  clock: ReturnType<typeof createManualClock>
  demo: DemoCredentials
  dbPath: string
  credentialsPath: string
  /** fetch for browsers and public clients: through the forwarder, trusting the test root. */
  publicFetch: typeof undiciFetch
  /** fetch presenting a workload's SVID straight to identity. */
  workloadFetch(name: string): Promise<typeof undiciFetch>
  operatorFetch(): Promise<typeof undiciFetch>
  /** openid-client configuration for a client, discovered through the forwarder. */
  rp(clientId: string, auth?: client.ClientAuth, metadata?: Partial<client.ClientMetadata>): Promise<client.Configuration>
  /** openid-client configuration for workload `svc-<name>` (tls_client_auth, mTLS straight to identity). */
  workloadRp(name: string): Promise<client.Configuration>
  /** Starts another identity instance on the same store (PostgreSQL), master key, CA and issuer. */
  addReplica(): Promise<{ identity: Identity; url: string; index: number }>
  /** Sends the forwarder's traffic to replica `index` (0: the first identity). */
  route(index: number): void
  close(): Promise<void>
}

export type HarnessOptions = { storage?: BootstrapMessage['storage'] }

export const FAST_ARGON2 = { memoryKiB: 1024, iterations: 1, parallelism: 1 }

function fetchWith(dispatcher: Agent): typeof undiciFetch {
  return ((url: string | URL, init?: Record<string, unknown>) => undiciFetch(url, { ...init, dispatcher } as never)) as typeof undiciFetch
}

async function startForwarder(ca: TestCa): Promise<{ server: Server; url: string; addUpstream(url: string, dispatcher: Agent): number; route(index: number): void }> {
  const svid = await ca.issue('forwarder', { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })
  const upstreams: Array<{ url: string; agent: Agent }> = []
  let current = 0
  const server = createServer({ key: svid.keyPem, cert: `${svid.certPem.trim()}\n${svid.chainPem.trim()}\n` }, async (req, res) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks)
    const headers: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || ['connection', 'host', 'keep-alive', 'transfer-encoding', 'content-length'].includes(name)) continue
      headers[name] = value
    }
    // Test-only: lets a test pick the client address the gateway would report.
    const testIp = req.headers['x-test-client-ip']
    delete headers['x-test-client-ip']
    const pick = req.headers['x-test-replica']
    delete headers['x-test-replica']
    const { url: upstream, agent } = upstreams[typeof pick === 'string' ? Number(pick) : current]!
    headers['x-forwarded-for'] = typeof testIp === 'string' ? testIp : req.socket.remoteAddress ?? '127.0.0.1'
    headers['x-forwarded-proto'] = 'https'
    headers['x-forwarded-host'] = req.headers.host ?? ''
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
    undiciRequest(`${upstream}${req.url}`, { method: req.method as 'GET', headers, body: hasBody ? body : undefined, dispatcher: agent })
      .then(async (response) => {
        const out: Record<string, string | string[]> = {}
        for (const [name, value] of Object.entries(response.headers)) if (value !== undefined && !['connection', 'keep-alive', 'transfer-encoding'].includes(name)) out[name] = value
        res.writeHead(response.statusCode, out)
        for await (const chunk of response.body) res.write(chunk)
        res.end()
      })
      .catch(() => { res.writeHead(502); res.end() })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    server, url: `https://127.0.0.1:${port}`,
    addUpstream(url, dispatcher) { return upstreams.push({ url, agent: dispatcher }) - 1 },
    route(index) { current = index },
  }
}

export async function startHarness(overrides: Partial<IdentityConfig> = {}, options: HarnessOptions = {}): Promise<Harness> {
  const ca = await createTestCa({ trustDomain: 'bulwark.test' })
  const dir = tempDir('bulwark-identity-')
  const forwarder = await startForwarder(ca)
  const clock = createManualClock(Date.now())
  // The manual clock follows real time unless a test moves it.
  let offset = 0
  const realClock = { now: () => Date.now() + offset, advance(ms: number) { offset += ms }, set(ms: number) { offset = ms - Date.now() } }
  Object.assign(clock, realClock)
  const audit = createMemoryAuditSink('identity')
  const config = loadConfig(IdentityConfigSchema, { value: { argon2: FAST_ARGON2, ...overrides } })
  const svid = await ca.source('identity')
  const masterKey = randomBytes(32)
  const log = process.env.IDENTITY_TEST_LOG ? createLogger({ name: 'identity', level: 'debug' }) : createSilentLogger()
  // identity must know its own URL before it listens (RFC 8705 aliases): pick a port, retry if someone takes it first.
  async function listenIdentity(): Promise<{ identity: Identity; url: string }> {
    for (let attempt = 0; ; attempt++) {
      const port = await freePort()
      const url = `https://127.0.0.1:${port}`
      const candidate = await createIdentity(config, {
        internalUrl: url, log, audit, svid, clock, issuer: forwarder.url, trustDomain: ca.trustDomain,
        database: join(dir.path, 'identity.db'), storage: options.storage, masterKey,
      })
      try {
        await candidate.app.listen({ host: '127.0.0.1', port })
        return { identity: candidate, url }
      } catch (error) {
        await candidate.app.close()
        if (attempt >= 3 || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error
      }
    }
  }
  const { identity, url } = await listenIdentity()
  const replicas = [identity]
  const identityId = serviceSpiffeId(ca.trustDomain, 'identity')
  const gatewayAgent = createMtlsAgent(await ca.source('gateway'), { verifyPeer: expectSpiffeId(identityId) })
  forwarder.addUpstream(url, gatewayAgent)
  const publicAgent = new Agent({ connect: { ca: ca.rootPem } })
  const publicFetch = fetchWith(publicAgent)
  const agents: Agent[] = [gatewayAgent, publicAgent]
  async function agentFor(nameOrId: string): Promise<Agent> {
    const agent = createMtlsAgent(await ca.source(nameOrId), { verifyPeer: expectSpiffeId(identityId) })
    agents.push(agent)
    return agent
  }
  const credentialsPath = join(dir.path, 'demo-credentials.json')
  const demo = (await seedDemo(identity.context, credentialsPath))!

  return {
    ca, identity, url, issuer: forwarder.url, audit, clock, demo, publicFetch, dbPath: join(dir.path, 'identity.db'), credentialsPath,
    async workloadFetch(name) { return fetchWith(await agentFor(name)) },
    async operatorFetch() { return fetchWith(await agentFor(`spiffe://${ca.trustDomain}/operator/admin`)) },
    async rp(clientId, auth = client.None(), metadata = {}) {
      return await client.discovery(new URL(forwarder.url), clientId, metadata, auth, { [client.customFetch]: publicFetch as never, execute: [] })
    },
    async workloadRp(name) {
      const wfetch = fetchWith(await agentFor(name))
      const config = await client.discovery(new URL(forwarder.url), `svc-${name}`, { use_mtls_endpoint_aliases: true }, client.TlsClientAuth(), { [client.customFetch]: publicFetch as never })
      // Token endpoint calls go straight to identity with the workload's SVID (RFC 8705 mtls aliases).
      config[client.customFetch] = ((target: string, init: unknown) => new URL(target).origin === url ? wfetch(target, init as never) : publicFetch(target, init as never)) as never
      return config
    },
    async addReplica() {
      if (!options.storage) throw new Error('replicas share a PostgreSQL store: start the harness with `storage`')
      const replica = await listenIdentity()
      replicas.push(replica.identity)
      const agent = createMtlsAgent(await ca.source('gateway'), { verifyPeer: expectSpiffeId(identityId) })
      agents.push(agent)
      const index = forwarder.addUpstream(replica.url, agent)
      return { ...replica, index }
    },
    route: (index) => forwarder.route(index),
    async close() {
      for (const replica of replicas) {
        await replica.close()
        await replica.app.close()
      }
      await new Promise<void>((resolve) => forwarder.server.close(() => resolve()))
      forwarder.server.closeAllConnections()
      for (const agent of agents) await agent.close().catch(() => undefined)
      dir.remove()
    },
  }
}

/** A cookie-keeping browser that follows redirects by hand and stops at the client's redirect URI. */
export function createBrowser(fetchImpl: typeof undiciFetch) {
  const jar = new Map<string, string>()
  function store(response: Response) {
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';')
      const eq = pair!.indexOf('=')
      const name = pair!.slice(0, eq).trim()
      const value = pair!.slice(eq + 1)
      if (/expires=Thu, 01 Jan 1970/i.test(cookie) || value === '') jar.delete(name)
      else jar.set(name, value)
    }
  }
  const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ')
  return {
    jar,
    ip: undefined as string | undefined,
    async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
      const response = await fetchImpl(url, {
        method: init.method ?? (init.form ? 'POST' : 'GET'), redirect: 'manual',
        headers: { cookie: cookieHeader(), ...(this.ip ? { 'x-test-client-ip': this.ip } : {}), ...(init.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        ...(init.form ? { body: new URLSearchParams(init.form).toString() } : {}),
      } as never) as unknown as Response
      store(response)
      return response
    },
    /** Follows redirects until one leaves for `stopPrefix` (the redirect URI) or a page renders. */
    async follow(url: string, stopPrefix: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<{ response: Response; url: string; body: string }> {
      let current = url
      let response = await this.request(current, init)
      for (let hops = 0; hops < 10 && response.status >= 300 && response.status < 400; hops++) {
        const next = new URL(response.headers.get('location')!, current).href
        if (next.startsWith(stopPrefix)) return { response, url: next, body: '' }
        await response.arrayBuffer()
        current = next
        response = await this.request(current)
      }
      return { response, url: current, body: await response.text() }
    },
  }
}

export function hiddenField(html: string, name: string): string {
  const match = /name="([a-z_]+)" value="([^"]*)"/g
  for (const m of html.matchAll(match)) if (m[1] === name) return m[2]!.replace(/&#(\d+);/g, (_m, code) => String.fromCharCode(Number(code)))
  throw new Error(`no field ${name} in page`)
}

export function formAction(html: string, issuer: string): string {
  const match = /<form method="post" action="([^"]+)"/.exec(html)
  if (!match) throw new Error('no form in page')
  return new URL(match[1]!.replace(/&#(\d+);/g, (_m, code) => String.fromCharCode(Number(code))), issuer).href
}

/** Drives the login pages: returns the callback URL (with code, state, iss) the browser ends up at. */
export async function browserLogin(h: Harness, browser: ReturnType<typeof createBrowser>, authorizeUrl: string, redirectPrefix: string,
  user: { username: string; password: string; totpSecret?: string }, otp?: () => Promise<string>): Promise<string> {
  let page = await browser.follow(authorizeUrl, redirectPrefix)
  if (page.url.startsWith(redirectPrefix)) return page.url
  if (page.response.status !== 200) throw new Error(`login page: ${page.response.status} ${page.body.slice(0, 300)}`)
  page = await browser.follow(formAction(page.body, h.issuer), redirectPrefix, { form: { csrf: hiddenField(page.body, 'csrf'), username: user.username, password: user.password } })
  if (page.url.startsWith(redirectPrefix)) return page.url
  if (page.body.includes('name="otp"') && otp) {
    page = await browser.follow(formAction(page.body, h.issuer), redirectPrefix, { form: { csrf: hiddenField(page.body, 'csrf'), otp: await otp() } })
    if (page.url.startsWith(redirectPrefix)) return page.url
  }
  throw new Error(`login did not complete: ${page.response.status} ${page.body.slice(0, 400)}`)
}
