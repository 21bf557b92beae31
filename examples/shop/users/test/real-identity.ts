// The real identity provider (packages/identity) for the users tests that need
// its accounts: same test CA and clock as the platform, demo accounts seeded
// (alice, bob, admin), and registered as the platform's `identity` peer, so a
// users runtime created afterwards verifies tokens against its JWKS and reads
// its account directory over mTLS. `tokenFor` stands in for the gateway's
// token exchange: a token for `service`, signed with identity's current key.
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { SignJWT, importJWK } from 'jose'
import { createMemoryAuditSink, createSilentLogger, loadConfig, serviceSpiffeId } from '@bulwark/core'
import { tempDir } from '@bulwark/testkit'
import { createIdentity, IdentityConfigSchema, seedDemo, type Identity } from '@bulwark/identity'
import { PUBLIC_URL, type TestPlatform } from '../../../../packages/sdk/test/service-support/index.ts'

export type RealIdentity = {
  identity: Identity
  url: string
  audit: ReturnType<typeof createMemoryAuditSink>
  /** The account id (token `sub`) of a demo username. */
  idOf(username: string): string
  tokenFor(service: string, claims: { sub: string; roles?: string[]; amr?: string[] }): Promise<string>
  close(): Promise<void>
}

export async function startRealIdentity(p: TestPlatform): Promise<RealIdentity> {
  const dir = tempDir('bulwark-users-identity-')
  const audit = createMemoryAuditSink('identity')
  const identity = await createIdentity(loadConfig(IdentityConfigSchema, { value: { argon2: { memoryKiB: 1024, iterations: 1, parallelism: 1 } } }), {
    log: createSilentLogger(), audit, svid: await p.ca.source('identity'), clock: p.clock, issuer: PUBLIC_URL, trustDomain: p.ca.trustDomain,
    database: join(dir.path, 'identity.db'), masterKey: randomBytes(32),
  })
  await seedDemo(identity.context, join(dir.path, 'demo-credentials.json'))
  const ids = new Map((await identity.context.users.list()).map((u) => [u.username, u.id]))
  await identity.app.listen({ host: '127.0.0.1', port: 0 })
  const url = `https://127.0.0.1:${(identity.app.server.address() as { port: number }).port}`
  p.peers.identity = url
  const keys = identity.context.keys
  const currentKid = await keys.currentKid()
  const current = (await keys.jwks()).find((k) => k.kid === currentKid)!
  const key = await importJWK(current as never, current.alg as string)
  return {
    identity, url, audit,
    idOf: (username) => ids.get(username)!,
    async tokenFor(service, claims) {
      const iat = Math.floor(p.clock.now() / 1000)
      return await new SignJWT({
        sub: claims.sub, client_id: 'shop-cli', scope: 'openid', roles: claims.roles ?? ['customer'], ...(claims.amr ? { amr: claims.amr } : {}),
        act: { sub: serviceSpiffeId(p.ca.trustDomain, 'gateway') },
      }).setProtectedHeader({ alg: current.alg as string, kid: current.kid, typ: 'at+jwt' })
        .setIssuer(PUBLIC_URL).setAudience(serviceSpiffeId(p.ca.trustDomain, service)).setIssuedAt(iat).setExpirationTime(iat + 300).setJti(randomBytes(8).toString('hex'))
        .sign(key)
    },
    async close() {
      await identity.close()
      await identity.app.close()
      dir.remove()
    },
  }
}
