// Demo seed for `bulwark up --demo`: users alice, bob (customer) and admin
// (admin, TOTP), the public PKCE client `shop-cli` and the confidential
// `reporting-job`, all with random credentials written once to
// demo-credentials.json (0600). A later start keeps users and the file; if
// the file is gone, the demo accounts get fresh credentials and a new file.
import { existsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { writeSecretFile } from '@bulwark/core'
import type { IdentityContext } from './context.ts'
import { DEVICE_CODE_GRANT } from './store/clients.ts'
import { newTotpSecret } from './users/totp.ts'
import { randomSecret } from './store/crypto.ts'

export const SHOP_SCOPES = ['openid', 'offline_access', 'profile', 'email', 'catalog:read', 'catalog:write', 'orders:read', 'orders:write',
  'payments:read', 'payments:write', 'users:read', 'users:write']

export type DemoCredentials = {
  users: Array<{ username: string; password: string; roles: string[]; totpSecret?: string }>
  clients: Array<{ clientId: string; clientSecret?: string; public: boolean; redirectUris: string[]; scopes: string[] }>
}

const DEMO_USERS = [
  { username: 'alice', roles: ['customer'], displayName: 'Alice', email: 'alice@example.test' },
  { username: 'bob', roles: ['customer'], displayName: 'Bob', email: 'bob@example.test' },
  { username: 'admin', roles: ['admin'], displayName: 'Administrator', email: 'admin@example.test' },
]

const password = () => randomBytes(15).toString('base64url')

/** Seeds the demo; returns the credentials when it wrote a new file, else undefined. */
export async function seedDemo(ctx: IdentityContext, credentialsPath: string): Promise<DemoCredentials | undefined> {
  const users = await Promise.all(DEMO_USERS.map((u) => ctx.users.byUsername(u.username)))
  const complete = users.every(Boolean) && await ctx.clients.get('shop-cli') && await ctx.clients.get('reporting-job')
  if (complete && existsSync(credentialsPath)) return undefined
  const out: DemoCredentials = { users: [], clients: [] }
  for (const spec of DEMO_USERS) {
    const secret = password()
    const passwordHash = await ctx.hasher.hash(secret)
    const totpSecret = spec.roles.includes('admin') ? newTotpSecret() : undefined
    const existing = await ctx.users.byUsername(spec.username)
    if (existing) {
      await ctx.users.update(existing.id, { passwordHash, roles: spec.roles })
      if (totpSecret) await ctx.users.setTotpSecret(existing.id, totpSecret)
    } else {
      await ctx.users.create({ ...spec, passwordHash, mfaRequired: spec.roles.includes('admin'), ...(totpSecret ? { totpSecret } : {}) })
    }
    out.users.push({ username: spec.username, password: secret, roles: spec.roles, ...(totpSecret ? { totpSecret } : {}) })
  }
  const redirectUris = ['http://127.0.0.1/callback']
  await ctx.clients.remove('shop-cli')
  await ctx.clients.create({
    client_id: 'shop-cli', client_name: 'Bulwark shop CLI', token_endpoint_auth_method: 'none', application_type: 'native',
    grant_types: ['authorization_code', 'refresh_token', DEVICE_CODE_GRANT], response_types: ['code'], redirect_uris: redirectUris,
    post_logout_redirect_uris: ['http://127.0.0.1/logged-out'], scope: SHOP_SCOPES.join(' '), first_party: true,
  })
  out.clients.push({ clientId: 'shop-cli', public: true, redirectUris, scopes: SHOP_SCOPES })
  const clientSecret = randomSecret()
  await ctx.clients.remove('reporting-job')
  await ctx.clients.create({
    client_id: 'reporting-job', client_name: 'Reporting job', client_secret: clientSecret, token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'orders:read:all', first_party: true,
  })
  out.clients.push({ clientId: 'reporting-job', clientSecret, public: false, redirectUris: [], scopes: ['orders:read:all'] })
  writeSecretFile(credentialsPath, JSON.stringify(out, null, 2) + '\n')
  ctx.audit.emit({ type: 'demo.seeded', actor: { kind: 'service', id: 'identity' }, action: 'demo.seed', outcome: 'success', details: { users: out.users.length, clients: out.clients.length } })
  return out
}
