// Shared set-up: a real audit service on 127.0.0.1:0 behind real mTLS
// (testkit CA), real SQLite in a temp dir (or a real PostgreSQL with
// `storage`), and clients holding SVIDs.
import { randomUUID } from 'node:crypto'
import { Agent, request } from 'undici'
import {
  attachMtls, createHealth, createManualClock, createMetrics, createMtlsAgent, createSilentLogger, loadConfig,
  mtlsServerOptions, operatorSpiffeId, type AuditEvent, type BootstrapMessage, type Clock,
} from '@bulwark/core'
import { createTestCa, tempDir, type TestCa } from '@bulwark/testkit'
import { AuditConfigSchema } from '../src/config.ts'
import { createAuditService, type AuditService } from '../src/service.ts'
import type { LockAccount } from '../src/responders.ts'

export type Reply = { status: number; body: any; text: string; headers: Record<string, unknown> }
export type Client = { agent: Agent; call(method: string, path: string, body?: unknown): Promise<Reply> }

export type Harness = {
  ca: TestCa
  service: AuditService
  url: string
  dir: string
  clock: ReturnType<typeof createManualClock>
  client(identity: string): Promise<Client>
  operator(): Promise<Client>
  /** Stops the server (keeps the directory); `restart` starts a new service on it. */
  stop(): Promise<void>
  restart(overrides?: Record<string, unknown>): Promise<Harness>
  close(): Promise<void>
}

export type StartOptions = {
  port?: number; ca?: TestCa; dir?: string; clock?: ReturnType<typeof createManualClock>; lockAccount?: LockAccount; config?: Record<string, unknown>
  /** The bootstrap's storage (PostgreSQL); SQLite in `dir` without. */
  storage?: BootstrapMessage['storage']
}

export async function startAudit(options: StartOptions = {}): Promise<Harness> {
  const ca = options.ca ?? await createTestCa()
  const temp = options.dir ? undefined : tempDir('bulwark-audit-')
  const dir = options.dir ?? temp!.path
  const clock = options.clock ?? createManualClock(Date.UTC(2026, 10, 23, 12))
  const source = await ca.source('audit')
  const config = loadConfig(AuditConfigSchema, { value: options.config ?? {} })
  const service = await createAuditService(config, {
    log: createSilentLogger(), metrics: createMetrics('audit'), health: createHealth(), clock: clock as Clock,
    trustDomain: ca.trustDomain, dataDir: dir, https: mtlsServerOptions(source), lockAccount: options.lockAccount, storage: options.storage,
  })
  attachMtls(service.app.server as never, source)
  await service.app.listen({ host: '127.0.0.1', port: options.port ?? 0 })
  const url = `https://127.0.0.1:${(service.app.server.address() as { port: number }).port}`
  const agents: Agent[] = []
  let stopped = false

  const clients = new Map<string, Promise<Client>>()
  function clientFor(identity: string): Promise<Client> {
    let client = clients.get(identity)
    if (!client) {
      client = ca.source(identity).then((svid) => {
        const agent = createMtlsAgent(svid, { verifyPeer: (id) => id === source.current().spiffeId })
        agents.push(agent)
        return { agent, call: (method: string, path: string, body?: unknown) => callWith(agent, url, method, path, body) }
      })
      clients.set(identity, client)
    }
    return client
  }
  async function stop(): Promise<void> {
    if (stopped) return
    stopped = true
    await Promise.all(agents.map((a) => a.close()))
    await service.app.close()
    await service.close()
  }
  const harness: Harness = {
    ca, service, url, dir, clock,
    client: clientFor,
    operator: () => clientFor(operatorSpiffeId(ca.trustDomain)),
    stop,
    async restart(overrides) {
      await stop()
      return startAudit({ ...options, ca, dir, clock, ...(overrides ? { config: overrides } : {}) })
    },
    async close() {
      await stop()
      temp?.remove()
    },
  }
  return harness
}

export async function callWith(agent: Agent, url: string, method: string, path: string, body?: unknown): Promise<Reply> {
  const res = await request(`${url}${path}`, {
    method: method as 'GET', dispatcher: agent,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.body.text()
  let parsed: unknown
  try { parsed = text ? JSON.parse(text) : undefined } catch { parsed = undefined }
  return { status: res.statusCode, body: parsed, text, headers: res.headers }
}

/** A well-formed event from `component`; override anything. */
export function makeEvent(component: string, overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: randomUUID(), type: 'authz.denied', time: new Date(Date.UTC(2026, 10, 23, 12)).toISOString(), component,
    actor: { kind: 'user', id: 'alice', ip: '203.0.113.7' }, action: 'orders.get', resource: 'Order::"o1"', outcome: 'denied',
    reason: 'policy', ...overrides,
  }
}

/** Entries written by callers (the service's own `audit.*`/`alert.*` records left out). */
export async function callerEntries(harness: Harness): Promise<number> {
  await harness.service.audit.flush()
  return (await harness.service.log.query({ after: -1, limit: 1_000_000, order: 'asc' })).filter((data) => !data.includes('"component":"audit"')).length
}
