// createCa(config, deps): the CA service. The listener is TLS 1.3 with a
// client certificate requested but not required (join callers have none); the
// peer guard enforces mTLS on every route but join. The CA serves with its own
// SVID (`svc/ca`), signed directly by the intermediate.
import type { TlsOptions } from 'node:tls'
import type { FastifyInstance } from 'fastify'
import {
  createServiceServer, svidContextOptions, systemClock,
  type AuditSink, type BootstrapMessage, type Clock, type Health, type SqlStore, type HomePaths, type Logger, type Metrics, type Svid, type SvidSource,
} from '@bulwark/core'
import { createAuthority, type Authority, type RevocationSink } from './authority.ts'
import type { CaConfig } from './config.ts'
import type { RouteContext } from './context.ts'
import { createPeerGuard } from './peer-guard.ts'
import { createKubernetesAttestor } from './k8s-attestor.ts'
import { registerAttestRoutes } from './routes/attest.ts'
import { registerBundleRoutes } from './routes/bundle.ts'
import { registerOperatorRoutes } from './routes/operator.ts'
import { registerSvidRoutes } from './routes/svid.ts'
import { createCaStore, openCaSqlStore } from './store.ts'

export type CaDeps = {
  log: Logger
  audit: AuditSink
  paths: HomePaths
  clock?: Clock
  /** An open store (kept open on close); default: opened from `storage`, else the SQLite file `paths.database('ca')`. */
  store?: SqlStore
  /** The bootstrap's storage: with `postgres.url`, schema `bulwark_ca` on PostgreSQL. */
  storage?: BootstrapMessage['storage']
  metrics?: Metrics
  health?: Health
  /** The process's own revocation view (the runtime's), kept in step with the inventory. */
  revocation?: RevocationSink
}

/** Runtime pieces that may only exist once the process is up (main.ts). */
export type AppExtras = { health?: Health; metrics?: Metrics; revocation?: RevocationSink }

export type Ca = {
  authority: Authority
  /** A fresh serving SVID for the CA itself. */
  issueServingSvid(): Promise<Svid>
  /** The CA's Fastify app (not listening), serving with `source` and following its rotations. */
  createApp(source: SvidSource, extras?: AppExtras): FastifyInstance
  close(): Promise<void>
}

const TLS13 = { minVersion: 'TLSv1.3' as const, maxVersion: 'TLSv1.3' as const }

/** HTTPS options of the CA listener: client certificates requested, verified against the root, enforced per route. */
export function caServerOptions(svid: Svid): TlsOptions {
  return { ...svidContextOptions(svid), ...TLS13, requestCert: true, rejectUnauthorized: false }
}

export async function createCa(config: CaConfig, deps: CaDeps): Promise<Ca> {
  const clock = deps.clock ?? systemClock
  const db = deps.store ?? await openCaSqlStore({ sqlitePath: deps.paths.database('ca'), storage: deps.storage })
  let authority: Authority
  try {
    authority = await createAuthority({
      trustDomain: config.trustDomain, svidTtlSeconds: config.svidTtlSeconds, paths: deps.paths,
      store: createCaStore(db), clock, revocation: deps.revocation,
    })
  } catch (error) {
    if (!deps.store) await db.close()
    throw error
  }
  // Replicas: a long-poll also rereads the stored bundle version this often (another replica's change wakes no one here).
  const ctx: RouteContext = { config, authority, audit: deps.audit, clock, log: deps.log, metrics: deps.metrics, bundlePollMs: db.dialect === 'postgres' ? 1000 : undefined }
  const kubernetes = config.attestation?.kubernetes
  const attestor = kubernetes ? createKubernetesAttestor(kubernetes, { clock, log: deps.log }) : undefined
  const servingNames = {
    dnsNames: config.servingNames.filter((n) => n === 'localhost'),
    ipAddresses: ['127.0.0.1'],
  }

  return {
    authority,
    issueServingSvid: () => authority.issueServingSvid(servingNames),
    createApp(source, extras = {}) {
      if (extras.metrics) ctx.metrics = extras.metrics
      if (extras.revocation) authority.addRevocationSink(extras.revocation)
      // Not ready once the intermediate can no longer sign a full-lifetime SVID.
      const health = extras.health ?? deps.health
      health?.addCheck('intermediate', () => authority.signer.cert.notAfter.getTime() - clock.now() > config.svidTtlSeconds * 1000, { critical: true })
      const app = createServiceServer({
        name: 'ca', log: deps.log, metrics: ctx.metrics, health,
        https: caServerOptions(source.current()), bodyLimit: 64 * 1024,
      })
      app.addHook('onRequest', createPeerGuard(ctx))
      registerSvidRoutes(app, ctx)
      registerAttestRoutes(app, ctx, attestor)
      registerBundleRoutes(app, ctx)
      registerOperatorRoutes(app, ctx)
      const detach = source.onRotate((svid) => {
        (app.server as unknown as import('node:tls').Server).setSecureContext({ ...svidContextOptions(svid), ...TLS13 })
      })
      app.addHook('preClose', async () => { authority.wakeAll() })
      app.addHook('onClose', async () => { detach() })
      return app
    },
    async close() {
      authority.wakeAll()
      await attestor?.close()
      if (!deps.store) await db.close()
    },
  }
}
