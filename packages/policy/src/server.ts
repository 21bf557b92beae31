// createPolicyService: the policy component. Versioned Cedar policy sets on
// its SqlStore (SQLite, or PostgreSQL when configured), the operator's admin API, distribution to enforcement points
// (ETag + long-poll) and the decision log for dry runs.
import type { ServerOptions } from 'node:https'
import type { FastifyInstance } from 'fastify'
import {
  createServiceServer, loadConfig, serviceSpiffeId, systemClock,
  type AuditSink, type BootstrapMessage, type Clock, type Health, type Logger, type Metrics,
} from '@bulwark/core'
import { validatePolicyFiles, formatDiagnostics } from '@bulwark/sdk/policy'
import { PolicyConfigSchema, type PolicyConfig } from './config.ts'
import { readDefaultPolicies, readDefaultSchema } from './defaults.ts'
import { createPolicySets, type PolicySets } from './policy-sets.ts'
import { registerAdmin } from './routes/admin.ts'
import { registerDecisions } from './routes/decisions.ts'
import { registerDistribution } from './routes/distribution.ts'
import { openPolicyStore, type PolicyStore } from './store.ts'

export type PolicyServiceDeps = {
  log: Logger
  audit: AuditSink
  /** SQLite file of the store (used when `storage` names no PostgreSQL). */
  databasePath: string
  /** The bootstrap's `storage`: with `postgres.url`, the store is schema `bulwark_policy` there. */
  storage?: BootstrapMessage['storage']
  /** mTLS server options (mtlsServerOptions); null only for in-process tests without TLS. */
  https: ServerOptions | null
  clock?: Clock
  metrics?: Metrics
  health?: Health
}

export type PolicyService = {
  app: FastifyInstance
  sets: PolicySets
  store: PolicyStore
  config: PolicyConfig
  close(): Promise<void>
}

/**
 * Builds the policy service (not listening). On first start it seeds version 1
 * from the packaged default policies (or `seedPoliciesDir`).
 *
 * @example
 * const svc = await createPolicyService({ trustDomain }, { log, audit, databasePath, https: mtlsServerOptions(svid) })
 * attachMtls(svc.app.server, svid); await svc.app.listen({ host: '127.0.0.1', port: 8603 })
 */
export async function createPolicyService(rawConfig: unknown, deps: PolicyServiceDeps): Promise<PolicyService> {
  const config = loadConfig(PolicyConfigSchema, { source: 'config.json components.policy', value: rawConfig }) as PolicyConfig
  const clock = deps.clock ?? systemClock
  const schema = readDefaultSchema(config.schemaFile)
  const store = await openPolicyStore({ sqlitePath: deps.databasePath, storage: deps.storage })
  if (!(await store.active())) {
    const seed = validatePolicyFiles(schema, readDefaultPolicies(config.seedPoliciesDir))
    if (!seed.ok) {
      await store.close()
      throw new TypeError(`seed policies do not validate:\n${formatDiagnostics(seed.errors)}`)
    }
  }
  const sets = await createPolicySets(config, { store, schema, audit: deps.audit, clock, log: deps.log })
  if (!sets.document()) {
    await sets.apply(readDefaultPolicies(config.seedPoliciesDir), { kind: 'service', spiffeId: serviceSpiffeId(config.trustDomain, 'policy') }, 'seeded from the packaged defaults', { onlyIfNoneActive: true })
  }
  const closing = new AbortController()
  const app = createServiceServer({ name: 'policy', log: deps.log, metrics: deps.metrics, health: deps.health, https: deps.https, bodyLimit: config.maxPolicyBytes + 64 * 1024,
    // Unknown fields are refused, not silently dropped.
    fastify: { ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true } } },
  })
  registerDistribution(app, { sets, maxWaitSeconds: config.maxWaitSeconds, closing: closing.signal })
  registerDecisions(app, { store, keep: config.decisionLogMax })
  registerAdmin(app, { sets, store, audit: deps.audit, config, schema })
  deps.health?.addCheck('policy-set', () => sets.document() !== undefined, { critical: true })
  if (deps.metrics) {
    const version = deps.metrics.gauge('bulwark_policy_active_version', 'Version of the active policy set')
    const refresh = () => { const doc = sets.document(); if (doc) version.set(Number(doc.version)) }
    refresh()
    sets.onChange(refresh)
  }
  let closed = false
  return {
    app, sets, store, config,
    async close() {
      if (closed) return
      closed = true
      closing.abort()
      await app.close()
      sets.close()
      await store.close()
    },
  }
}
