// Shared set-up: a real vault on 127.0.0.1:0 behind real mTLS (testkit CA),
// and undici clients holding SVIDs for different identities.
import { Agent, request } from 'undici'
import assert from 'node:assert/strict'
import { AuditEventSchema, attachMtls, type BootstrapMessage, checkSchema, createManualClock, createMemoryAuditSink, createMtlsAgent, createSilentLogger, mtlsServerOptions, operatorSpiffeId, type AuditEvent, type Authorizer } from '@bulwark/core'
import { createTestCa, tempDir, type TestCa } from '@bulwark/testkit'
import { createVault, type Vault } from '../src/server.ts'
import { loadVaultConfig } from '../src/config.ts'

export type Client = {
  agent: Agent
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Record<string, unknown> }>
}

export type Harness = {
  ca: TestCa
  vault: Vault
  url: string
  home: string
  events: AuditEvent[]
  clock: ReturnType<typeof createManualClock>
  client(identity: string): Promise<Client>
  operator(): Promise<Client>
  close(): Promise<void>
}

export async function startVault(overrides: Record<string, unknown> = {}, options: { ca?: TestCa; home?: string; authorizer?: Authorizer; storage?: BootstrapMessage['storage'] } = {}): Promise<Harness> {
  const ca = options.ca ?? await createTestCa()
  const dir = options.home ? undefined : tempDir('bulwark-vault-')
  const home = options.home ?? dir!.path
  const audit = createMemoryAuditSink('vault')
  const clock = createManualClock(Date.UTC(2026, 10, 23, 12))
  const server = await ca.source('vault')
  const config = loadVaultConfig({ trustDomain: ca.trustDomain, ...overrides }, {})
  const vault = await createVault(config, { log: createSilentLogger(), audit, clock, home, https: mtlsServerOptions(server), authorizer: options.authorizer, storage: options.storage })
  attachMtls(vault.app.server as never, server)
  await vault.app.listen({ host: '127.0.0.1', port: 0 })
  const address = vault.app.server.address() as { port: number }
  const url = `https://127.0.0.1:${address.port}`
  const agents: Agent[] = []

  async function client(identity: string): Promise<Client> {
    const source = await ca.source(identity)
    const agent = createMtlsAgent(source, { verifyPeer: (id) => id === server.current().spiffeId })
    agents.push(agent)
    return {
      agent,
      async call(method, path, body, headers = {}) {
        const res = await request(`${url}${path}`, {
          method: method as 'GET', dispatcher: agent,
          headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
          body: body === undefined ? undefined : JSON.stringify(body),
        })
        const text = await res.body.text()
        return { status: res.statusCode, body: text ? JSON.parse(text) : undefined, headers: res.headers }
      },
    }
  }

  return {
    ca, vault, url, home, events: audit.events, clock, client,
    operator: () => client(operatorSpiffeId(ca.trustDomain)),
    async close() {
      // Every event the vault emitted must be one the audit service accepts.
      for (const event of audit.events) assert.deepEqual(checkSchema(AuditEventSchema, event), [], JSON.stringify(event))
      await Promise.all(agents.map((a) => a.close()))
      await vault.close()
      dir?.remove()
    },
  }
}
