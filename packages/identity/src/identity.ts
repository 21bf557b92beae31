// createIdentity(config, deps): the OIDC provider mounted on a Fastify mTLS
// server next to the login pages and the admin API, over one store: identity's
// SQLite file, or schema `bulwark_identity` on PostgreSQL, where any number of
// identity replicas share every record (sessions, interactions, codes, tokens,
// users, clients, lockouts, revocations, signing keys).
import { createHmac } from 'node:crypto'
import type { ServerOptions } from 'node:https'
import formbody from '@fastify/formbody'
import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose'
import { Provider } from 'oidc-provider'
import {
  createServiceServer, mtlsServerOptions, serviceSpiffeId, systemClock,
  type AuditSink, type BootstrapMessage, type Clock, type Health, type Logger, type Metrics, type SqlStore, type SvidSource,
} from '@bulwark/core'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { IdentityConfig } from './config.ts'
import type { IdentityContext } from './context.ts'
import { openIdentityStore } from './store/database.ts'
import { createKeyedHash, createSealer, deriveKey } from './store/crypto.ts'
import { createUserStore } from './store/users.ts'
import { createClientStore } from './store/clients.ts'
import { createRevocationFeed } from './store/revocations.ts'
import { createLockout } from './users/lockout.ts'
import { createPasswordHasher } from './users/passwords.ts'
import { createMfaPendingStore } from './users/mfa-pending.ts'
import { createAdapterClass, purgeExpired } from './provider/adapter.ts'
import { createSigningKeys, keySetVersion, type PrivateJwk } from './provider/keys.ts'
import { createProvider } from './provider/create-provider.ts'
import { registerTokenExchange, type ExchangeExtras } from './provider/token-exchange.ts'
import { peerCertificatePem } from './provider/mtls.ts'
import { wireProvider } from './provider/events.ts'
import { applyForwardingTrust } from './http/forwarded.ts'
import { registerInteractionRoutes } from './interaction/routes.ts'
import { registerAdminRoutes } from './admin/routes.ts'

export type IdentityDeps = {
  log: Logger
  audit: AuditSink
  svid: SvidSource
  /** The OIDC issuer: the gateway's public URL. */
  issuer: string
  trustDomain: string
  /** The SQLite file (unused with `storage.postgres`), or an already open store (left open on close). */
  database: string | SqlStore
  /** The bootstrap's `storage`: with `postgres.url`, identity keeps everything in PostgreSQL. */
  storage?: BootstrapMessage['storage']
  /** 32+ bytes; at-rest keys are derived from it with HKDF. */
  masterKey: Uint8Array
  clock?: Clock
  metrics?: Metrics
  health?: Health
  /** Identity's own URL, advertised as the mTLS endpoint alias for workloads. */
  internalUrl?: string
  /** TLS options; default mTLS from `svid`. */
  https?: ServerOptions
}

export type Identity = {
  app: FastifyInstance
  context: IdentityContext
  /**
   * Purges expired records, drops retired signing keys past their grace period, rotates keys when due,
   * and reloads the provider when another replica changed the keys (runs every minute).
   */
  maintain(): Promise<void>
  close(): Promise<void>
}

const PRIVATE_FIELDS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'key_ops'])
const publicJwks = (keys: PrivateJwk[]) => ({ keys: keys.map((k) => Object.fromEntries(Object.entries(k).filter(([name]) => !PRIVATE_FIELDS.has(name)))) })

export async function createIdentity(config: IdentityConfig, deps: IdentityDeps): Promise<Identity> {
  if (config.retiredKeyGraceSeconds < Math.max(config.accessTokenTtlSeconds, config.idTokenTtlSeconds)) {
    throw new TypeError('retiredKeyGraceSeconds must cover the longest token lifetime, or live tokens would lose their key')
  }
  const clock = deps.clock ?? systemClock
  const ownStore = typeof deps.database === 'string'
  const db = typeof deps.database === 'string' ? await openIdentityStore({ sqlitePath: deps.database, storage: deps.storage }) : deps.database
  const key = (purpose: string) => deriveKey(deps.masterKey, purpose)
  const hash = createKeyedHash(key('ids'))
  const users = createUserStore(db, { sealer: createSealer(key('totp')), clock })
  const clients = createClientStore(db, { trustDomain: deps.trustDomain, clock })
  const revocations = createRevocationFeed(db, clock)
  const keys = createSigningKeys(db, { alg: config.signingAlg, sealer: createSealer(key('signing-keys')), clock, graceSeconds: config.retiredKeyGraceSeconds })
  await keys.ensure()
  await keys.prune()
  const Adapter = createAdapterClass({ db, hash, sealer: createSealer(key('adapter')), clock, clients, revokeGrant })
  const cookieKeys = [key('cookies').toString('base64url')]
  const csrfKey = key('csrf')
  const extras = new WeakMap<object, ExchangeExtras>()
  const gatewayId = serviceSpiffeId(deps.trustDomain, 'gateway')
  // Every security event is also a metric (logins, MFA, grants, lockouts, revocations by outcome).
  const events = deps.metrics?.counter('bulwark_identity_events_total', 'Identity security events by type and outcome', ['type', 'outcome'])
  const audit: AuditSink = events
    ? { emit(event) { events.inc({ type: event.type, outcome: event.outcome }); deps.audit.emit(event) }, flush: () => deps.audit.flush(), barrier: () => deps.audit.barrier?.() }
    : deps.audit

  let provider: Provider
  let keysLoaded = ''
  let handle: (req: FastifyRequest['raw'], res: FastifyReply['raw']) => void
  let verifyKeys: JWTVerifyGetKey

  const context: IdentityContext = {
    config, issuer: deps.issuer, trustDomain: deps.trustDomain, provider: () => provider,
    users, clients, revocations, keys, clock, log: deps.log, audit,
    lockout: createLockout(db, config.lockout, clock),
    hasher: createPasswordHasher(config.argon2),
    mfa: createMfaPendingStore(db, { hash, sealer: createSealer(key('mfa')), clock }),
    csrf: (uid) => createHmac('sha256', csrfKey).update(`csrf:${uid}`).digest('base64url'),
    reloadKeys: build,
    async recordsOf(accountId) {
      const rows = await db.all<{ model: string; n: number }>('SELECT model, COUNT(*) AS n FROM oidc WHERE account_id = ? AND (expires_at IS NULL OR expires_at > ?) GROUP BY model', [accountId, clock.now()])
      return Object.fromEntries(rows.map((r) => [r.model, r.n]))
    },
    async revokeSubject(subject) {
      const keep = Math.max(config.accessTokenTtlSeconds, config.exchangeTtlSeconds, config.idTokenTtlSeconds) + 120
      let removed = 0
      if (subject.kind === 'user') {
        removed = (await db.run('DELETE FROM oidc WHERE account_id = ?', [subject.id])).changes
        await revocations.publish('subject', subject.id, keep)
      } else {
        const rows = await db.all<{ model: string; id_hash: string; payload: string }>("SELECT model, id_hash, payload FROM oidc WHERE model IN ('RefreshToken', 'AuthorizationCode', 'DeviceCode', 'Grant', 'AccessToken', 'ClientCredentials')")
        const sealer = createSealer(key('adapter'))
        for (const row of rows) {
          const payload = JSON.parse(sealer.open(row.payload, `${row.model}:${row.id_hash}`)) as { clientId?: string }
          if (payload.clientId === subject.id) removed += (await db.run('DELETE FROM oidc WHERE model = ? AND id_hash = ?', [row.model, row.id_hash])).changes
        }
        await revocations.publish('client', subject.id, keep)
      }
      return removed
    },
  }

  /**
   * A code or refresh token redeemed twice, the second time noticed by the store (another replica won
   * the race): revoke the grant as oidc-provider does for a replay it sees itself, and say so.
   */
  async function revokeGrant(grantId: string): Promise<void> {
    await db.run("DELETE FROM oidc WHERE grant_hash = ? OR (model = 'Grant' AND id_hash = ?)", [hash(`grant:${grantId}`), hash(`Grant:${grantId}`)])
    const koa = Provider.ctx
    if (koa) provider.emit('grant.revoked', koa, grantId)
  }

  async function build(): Promise<void> {
    const loaded = keySetVersion(await keys.list())
    const jwks = await keys.jwks()
    verifyKeys = createLocalJWKSet(publicJwks(jwks) as never)
    const next = createProvider({
      issuer: deps.issuer, trustDomain: deps.trustDomain, config, adapter: Adapter, users, jwks, cookieKeys, extras, internalUrl: deps.internalUrl,
      auditBarrier: () => audit.barrier?.(),
    })
    registerTokenExchange({
      provider: next, issuer: deps.issuer, trustDomain: deps.trustDomain, alg: config.signingAlg, exchangeTtl: config.exchangeTtlSeconds,
      exchange: config.exchange, keys: () => verifyKeys, revocations, getCertificate: peerCertificatePem, extras,
      isActiveAccount: async (id) => { const user = await users.byId(id); return user !== undefined && !user.disabled },
    })
    wireProvider(next, context, { db, hash, keys: () => verifyKeys })
    provider = next
    handle = next.callback()
    keysLoaded = loaded
  }
  await build()

  const app = createServiceServer({
    name: 'identity', log: deps.log, metrics: deps.metrics, health: deps.health,
    https: deps.https ?? mtlsServerOptions(deps.svid),
    // Every caller is an authenticated platform peer (the gateway mints the ids).
    trustRequestId: true,
    fastify: { ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } } },
  })
  deps.health?.addCheck('database', async () => (await db.one('SELECT 1 AS ok')) !== undefined, { critical: true })
  deps.health?.addCheck('signing-key', async () => (await keys.currentKid()) !== undefined, { critical: true })
  app.addHook('onRequest', async (request) => applyForwardingTrust(request, gatewayId))
  const toProvider = async (request: FastifyRequest, reply: FastifyReply) => {
    reply.hijack()
    reply.raw.setHeader('x-request-id', String(request.id))
    // oidc-provider stops reading an oversized or malformed body and answers early; the rest of that body
    // would be parsed as the next request on a kept-alive connection, so such a connection is closed.
    reply.raw.once('finish', () => {
      if (!request.raw.complete) (request.raw.socket as { destroySoon?: () => void }).destroySoon?.()
    })
    handle(request.raw, reply.raw)
  }
  const unreachable = async () => undefined
  for (const url of ['/oauth2/*', '/.well-known/openid-configuration']) {
    app.route({ method: ['GET', 'POST', 'OPTIONS'], url, onRequest: toProvider, handler: unreachable })
  }
  // RFC 8414 metadata: the same document oidc-provider serves as OpenID discovery.
  app.route({
    method: ['GET', 'OPTIONS'], url: '/.well-known/oauth-authorization-server', handler: unreachable,
    onRequest: async (request, reply) => {
      request.raw.url = '/.well-known/openid-configuration'
      await toProvider(request, reply)
    },
  })
  app.register(async (scope) => {
    await scope.register(formbody, { bodyLimit: 16 * 1024 })
    registerInteractionRoutes(scope, context)
  })
  app.register(async (scope) => registerAdminRoutes(scope, context))

  async function maintain(): Promise<void> {
    await purgeExpired(db, clock.now())
    await db.run('DELETE FROM grant_jtis WHERE exp <= ?', [Math.floor(clock.now() / 1000)])
    await context.lockout.prune()
    await keys.prune()
    const period = config.signingKeyRotationDays * 86_400_000
    const rotated = period > 0 ? await keys.rotateIfDue(period) : undefined
    // Keys rotated, pruned or staged here or at another replica: sign and publish with the stored set.
    if (keySetVersion(await keys.list()) !== keysLoaded) await build()
    if (rotated) {
      audit.emit({
        type: 'key.rotated', actor: { kind: 'service', id: 'identity' }, action: 'keys.rotate', outcome: 'success', resource: 'signing-keys',
        details: { current: rotated.find((k) => k.state === 'current')?.kid ?? null, scheduled: true },
      })
      deps.log.info({ periodDays: config.signingKeyRotationDays }, 'signing keys rotated on schedule')
    }
  }
  const maintenance = setInterval(() => {
    maintain().catch((error: unknown) => deps.log.error({ err: error }, 'identity maintenance failed'))
  }, 60_000)
  maintenance.unref()
  let closed = false
  app.addHook('onClose', async () => {
    clearInterval(maintenance)
    revocations.close()
    if (!closed && ownStore) await db.close()
    closed = true
  })

  return {
    app,
    context,
    maintain,
    async close() {
      clearInterval(maintenance)
      revocations.close()
    },
  }
}
