// createVault(config, deps): opens the store, unseals the key hierarchy and
// builds the Fastify app (not listening). The runtime (or a test) listens
// with mTLS; every route requires a verified SPIFFE peer.
import type { ServerOptions } from 'node:https'
import {
  createServiceServer, homePaths, loadConfig, type AuditSink, type Authorizer, type BootstrapMessage, type Clock,
  type Health, type Logger, type Metrics, type SqlStore,
} from '@bulwark/core'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { AclRuleSchema, type VaultConfig } from './config.ts'
import { createAccess } from './access.ts'
import { createRuleAuthorizer, defaultRules } from './acl.ts'
import { createVaultEntities } from './cedar-entities.ts'
import { createCommitQueue, type CommitQueue } from './commit-queue.ts'
import { createKeyring, isKeyringEmpty, loadMasterKey, type Keyring, type KmsHook } from './keyring.ts'
import { createKvEngine, type KvEngine } from './kv.ts'
import { openVaultStore } from './store.ts'
import { createTransitEngine, type TransitEngine } from './transit.ts'
import { createWatchHub } from './watch-hub.ts'
import { registerKvRoutes } from './routes/kv.ts'
import { registerTransitRoutes } from './routes/transit.ts'
import { registerSystemRoutes } from './routes/system.ts'

export type VaultDeps = {
  log: Logger
  audit: AuditSink
  clock: Clock
  /** The Bulwark home; default locations of the database and master key. */
  home: string
  /** TLS options for the server (mtlsServerOptions); omit only for in-process use. */
  https?: ServerOptions | null
  metrics?: Metrics
  health?: Health
  /** Replaces the local rule engine (e.g. a Cedar Authorizer from @bulwark/sdk/policy). */
  authorizer?: Authorizer
  /** Auto-unseal: the master key comes from a KMS instead of a file. */
  kms?: KmsHook
  /** The bootstrap's storage: with `postgres.url`, schema `bulwark_vault` on PostgreSQL instead of the SQLite file. */
  storage?: BootstrapMessage['storage']
}

export type Vault = {
  app: FastifyInstance
  kv: KvEngine
  transit: TransitEngine
  /** Runs the scheduled work now (transit auto-rotation); returns the keys it rotated. Runs hourly on its own. */
  maintain(): Promise<string[]>
  keyring: Keyring
  store: SqlStore
  queue: CommitQueue
  close(): Promise<void>
}

const RulesFile = Type.Object({ rules: Type.Array(AclRuleSchema) }, { additionalProperties: false })

function rulesOf(config: VaultConfig) {
  if (config.rulesFile) return loadConfig(RulesFile, { file: config.rulesFile }).rules
  return config.rules ?? defaultRules(config.trustDomain, config.shopServices)
}

export async function createVault(config: VaultConfig, deps: VaultDeps): Promise<Vault> {
  const paths = homePaths(deps.home)
  const authorizer = deps.authorizer ?? createRuleAuthorizer(rulesOf(config))
  const db = await openVaultStore({ sqlitePath: config.database ?? paths.database('vault'), storage: deps.storage })
  let keyring: Keyring
  try {
    // The master key comes from its file (or the KMS) and stays in memory: it is never written to the store.
    const master = await loadMasterKey({ file: config.masterKeyFile ?? paths.masterKey, kms: deps.kms, create: config.createMasterKey, keyringEmpty: await isKeyringEmpty(db) })
    keyring = await createKeyring(db, master, deps.clock)
  } catch (error) {
    await db.close()
    throw error
  }
  const queue = createCommitQueue(db, { maxBatch: config.groupCommitMax })
  const hub = createWatchHub()
  const kv = createKvEngine({ db, keyring, queue, clock: deps.clock, limits: config, onChange: (path) => hub.notify(path) })
  const transit = createTransitEngine({ db, keyring, clock: deps.clock })
  // A supplied Authorizer (Cedar) decides on entities; the local rules need none.
  const entities = deps.authorizer ? createVaultEntities(config) : undefined
  const access = createAccess({ authorizer, audit: deps.audit, log: deps.log, entities })

  const app = createServiceServer({
    name: 'vault', log: deps.log, metrics: deps.metrics, health: deps.health, https: deps.https,
    bodyLimit: Math.max(config.maxValueBytes, Math.ceil(config.maxTransitBytes / 3) * 4) + 16 * 1024,
    fastify: { routerOptions: { maxParamLength: 1024 }, ajv: { customOptions: { removeAdditional: false, coerceTypes: false } } },
  })
  registerKvRoutes(app, { kv, access, hub, maxPathLength: config.maxPathLength, maxWaitSeconds: config.maxWaitSeconds, pollMs: db.dialect === 'postgres' ? 1000 : undefined })
  registerTransitRoutes(app, { transit, access, maxTransitBytes: config.maxTransitBytes })
  registerSystemRoutes(app, { keyring, kv, transit, access })
  let closed = false
  deps.health?.addCheck('store', () => !closed, { critical: true })
  if (deps.metrics) {
    const requests = deps.metrics.counter('bulwark_vault_requests_total', 'Vault requests by route and status', ['route', 'status'])
    const commits = deps.metrics.gauge('bulwark_vault_group_commits', 'Group commits since start')
    app.addHook('onResponse', async (request, reply) => {
      requests.inc({ route: request.routeOptions.url ?? 'unknown', status: String(reply.statusCode) })
      commits.set(queue.batches)
    })
  }

  /** Scheduled work (hourly): transit keys past their rotation period get a new version, audited. */
  async function maintain(): Promise<string[]> {
    const period = config.transitAutoRotateDays * 86_400_000
    if (period === 0) return []
    const rotated = await transit.rotateDue(period)
    for (const name of rotated) {
      deps.audit.emit({
        type: 'key.rotated', actor: { kind: 'service', id: 'vault' }, action: 'transit.rotate', outcome: 'success', resource: `transit/${name}`,
        details: { scheduled: true, periodDays: config.transitAutoRotateDays },
      })
    }
    if (rotated.length > 0) deps.log.info({ keys: rotated }, 'transit keys rotated on schedule')
    return rotated
  }
  const maintenance = setInterval(() => {
    maintain().catch((error: unknown) => deps.log.error({ err: (error as Error).message }, 'vault maintenance failed'))
  }, 3_600_000)
  maintenance.unref()

  return {
    app, kv, transit, keyring, store: db, queue, maintain,
    async close() {
      if (closed) return
      closed = true
      clearInterval(maintenance)
      hub.close()
      await app.close()
      await queue.drain()
      await db.close()
    },
  }
}
