// A small platform for testing services built on the sdk: a testkit CA, the
// fake identity (real jose tokens, token exchange, revocation feed), the REAL
// vault (packages/vault, SQLite in a temp home) over mTLS, the default Cedar
// policies, and a runtime factory whose peers include every service started.
import { createManualClock, createMemoryAuditSink, createSilentLogger, mtlsServerOptions, type Authorizer } from '@bulwark/core'
import { createTestCa, tempDir, type TestCa } from '@bulwark/testkit'
import { createVault, loadVaultConfig, type Vault } from '../../../vault/src/index.ts'
import { startFakeIdentity, type FakeIdentity } from './fake-identity.ts'
import { testAuthorizer } from './policies.ts'
import { createTestRuntime, listen, mtlsClient, type TestRuntime } from './test-runtime.ts'

export const PUBLIC_URL = 'https://localhost:8443'

export type TestPlatform = {
  ca: TestCa
  home: string
  clock: ReturnType<typeof createManualClock>
  identity: FakeIdentity
  vault: Vault | undefined
  authorizer: Authorizer
  /** URLs of every peer: identity, vault and each service started with `serve`. */
  peers: Record<string, string>
  /** gRPC URLs of services serving gRPC; set an entry and later `peer(name)` calls carry it as `grpcUrl`. */
  grpcPeers: Record<string, string>
  runtime(name: string, config?: Record<string, unknown>, demo?: boolean): Promise<TestRuntime>
  /** Listens on loopback and registers `name` as a peer for later runtimes. */
  serve(name: string, app: import('fastify').FastifyInstance): Promise<string>
  client(as: string, server: string): Promise<import('undici').Agent>
  close(): Promise<void>
}

export async function startTestPlatform(options: { vault?: boolean; extraPolicy?: string } = {}): Promise<TestPlatform> {
  // First, so a bad policy text fails before any server is listening.
  const authorizer = testAuthorizer(options.extraPolicy ?? '', true)
  const ca = await createTestCa()
  const dir = tempDir('bulwark-shop-')
  const clock = createManualClock(Date.now())
  const identity = await startFakeIdentity({ source: await ca.source('identity'), trustDomain: ca.trustDomain, issuer: PUBLIC_URL, clock })
  const peers: Record<string, string> = { identity: identity.url }
  let vault: Vault | undefined
  if (options.vault) {
    vault = await createVault(loadVaultConfig({ trustDomain: ca.trustDomain }), {
      log: createSilentLogger(), audit: createMemoryAuditSink('vault'), clock, home: dir.path,
      https: mtlsServerOptions(await ca.source('vault')),
    })
    peers.vault = await listen(vault.app)
  }
  const grpcPeers: Record<string, string> = {}
  const runtimes: TestRuntime[] = []
  const apps: Array<import('fastify').FastifyInstance> = []
  const agents: Array<import('undici').Agent> = []
  return {
    ca, home: dir.path, clock, identity, vault, authorizer, peers, grpcPeers,
    async runtime(name, config, demo) {
      const rt = await createTestRuntime({ ca, name, home: dir.path, publicUrl: PUBLIC_URL, peers, grpcPeers, clock, config, demo })
      runtimes.push(rt)
      return rt
    },
    async serve(name, app) {
      apps.push(app)
      peers[name] = await listen(app)
      return peers[name]
    },
    async client(as, server) {
      const agent = await mtlsClient(ca, as, server)
      agents.push(agent)
      return agent
    },
    async close() {
      for (const app of apps.reverse()) await app.close()
      await Promise.allSettled(agents.map((a) => a.close()))
      await Promise.allSettled(runtimes.map((r) => r.closeAgents()))
      await vault?.close()
      await identity.close()
      dir.remove()
    },
  }
}
