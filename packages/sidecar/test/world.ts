// A small real world for sidecar tests: a testkit CA, the sdk tests' token
// issuer (real jose tokens, RFC 8693 exchange, revocation feed) standing in
// for identity, the REAL gateway (packages/gateway) with routes to the
// sidecar'd services, two sidecars (createSidecar on a runtime with a testkit
// SVID, served over mTLS), two sdk services as egress targets, and an app
// written in Python's standard library that logs every request it receives.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { once } from 'node:events'
import type { Readable } from 'node:stream'
import { createInterface } from 'node:readline'
import { Agent, request } from 'undici'
import { createMemoryAuditSink, createMetrics, createMtlsAgent, createSilentLogger, expectSpiffeId, serviceSpiffeId, systemClock, type AuditEvent } from '@bulwark/core'
import { createTestCa, freePort, tempDir } from '@bulwark/testkit'
import { createGateway, type Gateway } from '@bulwark/gateway'
import { createSecureService, type SecureService } from '@bulwark/sdk/service'
import { createTestRuntime, listen, startFakeIdentity, testAuthorizer, type FakeIdentity, type TestRuntime } from '../../sdk/test/service-support/index.ts'
import { createSidecar, loadSidecarSettings, type Sidecar } from '../src/index.ts'

const APP = join(import.meta.dirname, 'fixtures', 'app.py')

// Who may call whom, and the notes service's own actions (see docs/sidecar.md).
export const POLICY = `
@id("t-gateway-to-sidecars")
permit (principal is Service, action == Action::"call", resource is Endpoint)
when { principal.name == "gateway" && ["notes", "wiki", "slow", "gone"].contains(resource.service) };
@id("t-notes-to-ledger")
permit (principal is Service, action == Action::"call", resource is Endpoint)
when { principal.name == "notes" && resource.service == "ledger" };
@id("t-notes-read-write")
permit (principal is User, action in [Action::"notes.list", Action::"notes.create"], resource is Endpoint)
when { context.authenticated };
@id("t-notes-delete-admin")
permit (principal in Role::"admin", action == Action::"notes.delete", resource is Endpoint)
when { context.authenticated };
`

export const NOTES_ROUTES = [
  { methods: ['GET'], path: '/notes', action: 'notes.list' },
  {
    methods: ['POST'], path: '/notes', action: 'notes.create',
    schema: { body: { type: 'object', required: ['text'], additionalProperties: false, properties: { text: { type: 'string', maxLength: 200 } } } },
  },
  { methods: ['DELETE'], path: '/notes/:id', action: 'notes.delete' },
  { methods: ['GET'], path: '/call/*' },
  { methods: ['GET'], path: '/public', auth: 'optional' },
  { methods: ['GET'], path: '/big' },
]

export type AppEntry = { method: string; path: string; headers: Array<[string, string]>; body: string }
export type Reply = { status: number; headers: Record<string, string | string[] | undefined>; text: string; json: any }

async function readReply(response: Awaited<ReturnType<typeof request>>): Promise<Reply> {
  const text = await response.body.text()
  let json: unknown
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status: response.statusCode, headers: response.headers, text, json }
}

async function startApp(port: number, log: string, egressPort: number | undefined): Promise<ChildProcess> {
  const child = spawn('python3', [APP, String(port), log, ...(egressPort ? [String(egressPort)] : [])], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout! })
  const ready = new Promise<void>((resolve) => lines.on('line', (line) => { if (line === 'ready') resolve() }))
  await Promise.race([ready, once(child, 'exit').then(() => { throw new Error('the Python app exited before it was ready') })])
  return child
}

export type World = Awaited<ReturnType<typeof createWorld>>

export async function createWorld() {
  const dir = tempDir('bulwark-sidecar-')
  const ca = await createTestCa()
  const td = ca.trustDomain
  const id = (name: string) => serviceSpiffeId(td, name)
  const gatewayPort = await freePort()
  const publicUrl = `https://localhost:${gatewayPort}`
  const identity: FakeIdentity = await startFakeIdentity({ source: await ca.source('identity'), trustDomain: td, issuer: publicUrl, clock: systemClock })
  identity.exchangeRules.gateway = ['notes', 'wiki']
  identity.exchangeRules.notes = ['ledger', 'billing']
  const authorizer = testAuthorizer(POLICY, false)
  const peers: Record<string, string> = { identity: identity.url }
  const runtimes: TestRuntime[] = []
  const runtime = async (name: string, config?: Record<string, unknown>) => {
    const rt = await createTestRuntime({ ca, name, home: dir.path, publicUrl, peers, clock: systemClock, config })
    runtimes.push(rt)
    return rt
  }

  // Egress targets: `ledger` lets notes call it, `billing` does not (no policy for notes -> billing).
  const hits = { ledger: 0, billing: 0 }
  const targets: SecureService[] = []
  for (const name of ['ledger', 'billing'] as const) {
    const service = await createSecureService(await runtime(name), { authorizer })
    service.get('/entries', async (req) => { hits[name]++; return { service: name, sub: req.auth.sub, callerService: req.auth.callerService } })
    peers[name] = await listen(service)
    targets.push(service)
  }

  // The Python app, and its two sidecars: `notes` (declared routes, egress) and `wiki` (everything forwarded).
  const appPort = await freePort()
  const egressPort = await freePort()
  const appLog = join(dir.path, 'app.jsonl')
  const app = await startApp(appPort, appLog, egressPort)
  const notesRt = await runtime('notes', { port: 0, sidecar: { appPort, egressPort, routes: NOTES_ROUTES, maxBodyBytes: 4096, maxResponseBytes: 32 * 1024 } })
  const notes: Sidecar = await createSidecar(notesRt, loadSidecarSettings(notesRt.config, 'notes'), { authorizer })
  peers.notes = await listen(notes.app)
  const wikiRt = await runtime('wiki', { sidecar: { appPort } })
  const wiki: Sidecar = await createSidecar(wikiRt, loadSidecarSettings(wikiRt.config, 'wiki'), { authorizer })
  peers.wiki = await listen(wiki.app)
  // `slow`: the same app with a short timeout; `gone`: an app port nothing listens on.
  const slowRt = await runtime('slow', { sidecar: { appPort, timeoutMs: 500 } })
  const slow: Sidecar = await createSidecar(slowRt, loadSidecarSettings(slowRt.config, 'slow'), { authorizer })
  peers.slow = await listen(slow.app)
  const goneRt = await runtime('gone', { sidecar: { appPort: await freePort() } })
  const gone: Sidecar = await createSidecar(goneRt, loadSidecarSettings(goneRt.config, 'gone'), { authorizer })
  peers.gone = await listen(gone.app)

  // The real gateway, with routes to the sidecar'd services.
  const gatewaySource = await ca.source('gateway', { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })
  const agents = new Map<string, Agent>()
  const peer = (name: string) => {
    if (!peers[name]) throw new TypeError(`unknown peer \`${name}\``)
    let dispatcher = agents.get(name)
    if (!dispatcher) agents.set(name, dispatcher = createMtlsAgent(gatewaySource, { verifyPeer: expectSpiffeId(id(name)) }))
    return { url: peers[name], spiffeId: id(name), dispatcher }
  }
  const gatewayAudit = createMemoryAuditSink('gateway')
  const api = { upstream: 'notes', stripPrefix: '/api', contentTypes: ['application/json'] }
  const gateway: Gateway = createGateway({
    feeds: { waitSeconds: 5, blocks: false }, health: { pollIntervalMs: 60_000 },
    routes: [
      { id: 'notes.root', path: '/api/notes', methods: ['GET', 'POST'], ...api },
      { id: 'notes.item', path: '/api/notes/*', methods: ['GET', 'DELETE'], ...api },
      { id: 'notes.call', path: '/api/call/*', methods: ['GET'], ...api },
      { id: 'wiki.all', path: '/api/wiki/*', methods: ['GET', 'POST'], upstream: 'wiki', stripPrefix: '/api' },
    ],
  }, { log: createSilentLogger(), metrics: createMetrics('gateway'), audit: gatewayAudit, svid: gatewaySource, authorizer, peer, publicUrl, healthPeers: [] })
  await gateway.app.listen({ host: 'localhost', port: gatewayPort })
  const edge = new Agent({ connect: { ca: ca.rootPem, servername: 'localhost' } })
  const direct = new Map<string, Agent>()

  return {
    ca, id, identity, publicUrl, notes, notesRt, wiki, wikiRt, goneRt, hits, egressPort: notes.egressPort!, gatewayAudit,
    /** A user's edge token (aud = the issuer), as a client holds it. */
    userToken: (sub = 'alice', roles = ['customer']) => identity.userToken({ sub, roles, scope: 'openid notes' }),
    /** Through the gateway, as a client. */
    async edge(method: string, path: string, init: { token?: string; headers?: Record<string, string> | string[]; body?: string } = {}): Promise<Reply> {
      const headers = Array.isArray(init.headers) ? [...init.headers] : Object.entries(init.headers ?? {}).flat()
      if (init.token) headers.push('authorization', `Bearer ${init.token}`)
      if (init.body !== undefined) headers.push('content-type', 'application/json')
      return readReply(await request(`${publicUrl}${path}`, { dispatcher: edge, method: method as 'GET', headers, body: init.body }))
    },
    /** Straight to a sidecar over mTLS, presenting `as`'s SVID. */
    async direct(as: string, service: string, method: string, path: string, init: { headers?: string[]; body?: string | Buffer | Readable } = {}): Promise<Reply> {
      const key = `${as}>${service}`
      let agent = direct.get(key)
      if (!agent) direct.set(key, agent = createMtlsAgent(await ca.source(as), { verifyPeer: expectSpiffeId(id(service)) }))
      // The path goes out byte for byte (no URL parsing that would resolve dot segments first).
      return readReply(await agent.request({ origin: peers[service]!, path, method: method as 'GET', headers: init.headers ?? [], body: init.body }))
    },
    /** Everything the Python app received so far. */
    appLog(): AppEntry[] {
      if (!existsSync(appLog)) return []
      return readFileSync(appLog, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as AppEntry)
    },
    events(rt: TestRuntime, type?: string): AuditEvent[] { return rt.audit.events.filter((e) => !type || e.type === type) },
    async close() {
      await gateway.close()
      await edge.close()
      for (const agent of [...agents.values(), ...direct.values()]) await agent.destroy()
      for (const sidecar of [notes, wiki, slow, gone]) { await sidecar.app.close(); await sidecar.close() }
      for (const target of targets) await target.close()
      await Promise.allSettled(runtimes.map((r) => r.closeAgents()))
      await identity.close()
      app.kill()
      dir.remove()
    },
  }
}

/** The values of header `name` (any case) in what the app received. */
export function headerValues(entry: AppEntry, name: string): string[] {
  return entry.headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v)
}
