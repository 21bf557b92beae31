// A small, real token issuer for tests where identity is not what is under
// test: ES256 JWTs signed with jose, a JWKS, RFC 8693 token exchange with the
// caller authenticated by its mTLS SPIFFE ID (svc-<name>), and the revocation
// feed. Served over real mTLS with a testkit SVID.
import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { SignJWT, exportJWK, generateKeyPair, jwtVerify, type JWK, type JWTPayload } from 'jose'
import {
  createServiceServer, createSilentLogger, mtlsServerOptions, serviceNameOf, serviceSpiffeId,
  type Clock, type SvidSource,
} from '@bulwark/core'

export type FakeIdentity = {
  url: string
  spiffeId: string
  issuer: string
  /** Token-exchange requests served (not cache hits of callers). */
  exchanges: number
  /** A token as the gateway would have exchanged it for `service` (act = gateway). */
  tokenFor(service: string, claims: { sub: string; roles?: string[]; scope?: string; amr?: string[]; clientId?: string; ttlSeconds?: number; actor?: string | null; jti?: string; extra?: Record<string, unknown> }): Promise<string>
  /** A user-facing token (aud = issuer), what a client holds at the edge. */
  userToken(claims: { sub: string; roles?: string[]; scope?: string; amr?: string[] }): Promise<string>
  sign(payload: JWTPayload, header?: Record<string, unknown>): Promise<string>
  revoke(kind: 'subject' | 'jti' | 'client', value: string, revokedAt?: number): void
  /** Who may request which audiences by name (default gateway -> shop, orders -> payments). */
  exchangeRules: Record<string, string[]>
  close(): Promise<void>
}

export async function startFakeIdentity(options: { source: SvidSource; trustDomain: string; issuer: string; clock: Clock }): Promise<FakeIdentity> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true })
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }
  const td = options.trustDomain
  const entries: Array<{ seq: number; kind: string; value: string; revokedAt: string }> = []
  const waiters = new Set<() => void>()
  const now = () => Math.floor(options.clock.now() / 1000)

  const sign = (payload: JWTPayload, header: Record<string, unknown> = {}) =>
    new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt', ...header }).sign(privateKey)

  const self: FakeIdentity = {
    url: '', spiffeId: options.source.current().spiffeId, issuer: options.issuer, exchanges: 0,
    exchangeRules: { gateway: ['users', 'catalog', 'orders', 'payments', 'identity'], orders: ['payments'] },
    sign,
    async tokenFor(service, c) {
      const iat = now()
      const actor = c.actor === undefined ? serviceSpiffeId(td, 'gateway') : c.actor
      return await sign({
        iss: options.issuer, aud: serviceSpiffeId(td, service), sub: c.sub, client_id: c.clientId ?? 'shop-cli',
        scope: c.scope ?? 'openid', roles: c.roles ?? ['customer'], ...(c.amr ? { amr: c.amr } : {}),
        iat, exp: iat + (c.ttlSeconds ?? 300), jti: c.jti ?? randomUUID(), ...(actor ? { act: { sub: actor } } : {}), ...c.extra,
      })
    },
    async userToken(c) {
      const iat = now()
      return await sign({ iss: options.issuer, aud: options.issuer, sub: c.sub, client_id: 'shop-cli', scope: c.scope ?? 'openid', roles: c.roles ?? ['customer'], ...(c.amr ? { amr: c.amr } : {}), iat, exp: iat + 300, jti: randomUUID() })
    },
    revoke(kind, value, revokedAt = options.clock.now()) {
      entries.push({ seq: entries.length + 1, kind, value, revokedAt: new Date(revokedAt).toISOString() })
      for (const wake of waiters) wake()
    },
    async close() { await app.close() },
  }

  const app = createServiceServer({ name: 'identity', log: createSilentLogger(), https: mtlsServerOptions(options.source) })
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })
  app.get('/oauth2/jwks', async () => ({ keys: [jwk] }))
  app.get('/admin/v1/revocations', async (request) => {
    const query = request.query as { after?: string; wait?: string }
    const after = Number(query.after ?? 0)
    const wait = Math.min(Number(query.wait ?? 0), 2)
    if (entries.length <= after && wait > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, wait * 1000)
        function done() { clearTimeout(timer); waiters.delete(done); resolve() }
        waiters.add(done)
      })
    }
    return { seq: entries.length, entries: entries.filter((e) => e.seq > after) }
  })
  app.post('/oauth2/token', async (request, reply) => {
    const form = request.body as Record<string, string>
    const caller = request.peer?.spiffeId ?? ''
    const name = serviceNameOf(caller)
    if (!name || form.client_id !== `svc-${name}`) return reply.code(401).send({ error: 'invalid_client' })
    if (form.grant_type !== 'urn:ietf:params:oauth:grant-type:token-exchange') return reply.code(400).send({ error: 'unsupported_grant_type' })
    const target = serviceNameOf(form.audience ?? '')
    if (!target || !(self.exchangeRules[name] ?? []).includes(target)) return reply.code(400).send({ error: 'invalid_target' })
    let subject: JWTPayload
    try {
      ({ payload: subject } = await jwtVerify(form.subject_token ?? '', publicKey, { issuer: options.issuer, currentDate: new Date(options.clock.now()) }))
    } catch {
      return reply.code(400).send({ error: 'invalid_grant' })
    }
    self.exchanges++
    const iat = now()
    const exp = Math.min(iat + 300, subject.exp!)
    const token = await sign({
      iss: options.issuer, aud: form.audience, sub: subject.sub, client_id: subject.client_id, scope: subject.scope, roles: subject.roles,
      ...(subject.amr ? { amr: subject.amr } : {}), iat, exp, jti: randomUUID(),
      act: subject.act ? { sub: caller, act: subject.act } : { sub: caller },
    })
    return { access_token: token, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: exp - iat }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  self.url = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  return self
}
