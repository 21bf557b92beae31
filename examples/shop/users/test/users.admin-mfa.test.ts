// The default policies (packages/policy/policies/admin-mfa.cedar) make admin
// work demand a second factor in the token (`amr`, which identity copies from
// the sign-in), and the sdk turns it into `context.mfa`. The directory lists
// the real identity's accounts.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { api, startTestPlatform, type TestPlatform } from '../../../../packages/sdk/test/service-support/index.ts'
import { createUsers, type Users } from '../src/index.ts'
import { startRealIdentity, type RealIdentity } from './real-identity.ts'

let p: TestPlatform
let idp: RealIdentity
let users: Users

before(async () => {
  p = await startTestPlatform({ vault: true })
  idp = await startRealIdentity(p)
  users = await createUsers({ emailIndexKey: 'users-email-index', defaultPageSize: 20, revokeTokensOnErase: false }, { rt: await p.runtime('users'), authorizer: p.authorizer })
  await p.serve('users', users.app)
})
after(async () => {
  await p.close()
  await users.close()
  await idp.close()
})

test('an admin without a second factor is refused the directory; with amr otp it is served', async () => {
  const gateway = await p.client('gateway', 'users')
  const admin = idp.idOf('admin')
  const weak = await api(gateway, p.peers.users!, 'GET', '/admin/users', { token: await idp.tokenFor('users', { sub: admin, roles: ['admin'], amr: ['pwd'] }) })
  assert.equal(weak.status, 403)
  const strong = await api(gateway, p.peers.users!, 'GET', '/admin/users', { token: await idp.tokenFor('users', { sub: admin, roles: ['admin'], amr: ['pwd', 'otp'] }) })
  assert.equal(strong.status, 200)
})
