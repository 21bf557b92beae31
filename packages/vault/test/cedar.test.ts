import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createCedarAuthorizer } from '@bulwark/sdk/policy'
import type { Authorizer } from '@bulwark/core'
import { createRuleAuthorizer, defaultRules, KV_ACTIONS, SYSTEM_ACTIONS, TRANSIT_ACTIONS } from '../src/acl.ts'
import { createVaultEntities } from '../src/cedar-entities.ts'
import { startVault } from './helpers.ts'

const POLICIES = readFileSync(new URL('../cedar/vault.cedar', import.meta.url), 'utf8')
const SHOP = ['users', 'catalog', 'orders', 'payments']

test('the Cedar policy decides exactly like the default local rules', () => {
  const cedar = createCedarAuthorizer({ policies: POLICIES, cacheSize: 0 })
  const local = createRuleAuthorizer(defaultRules('bulwark.test', SHOP))
  const entities = createVaultEntities({ trustDomain: 'bulwark.test', shopServices: SHOP })
  const principals = [
    { type: 'Operator', id: 'spiffe://bulwark.test/operator/admin' }, { type: 'Operator', id: 'spiffe://evil.test/operator/admin' },
    ...['users', 'orders', 'identity', 'gateway'].map((n) => ({ type: 'Service', id: `spiffe://bulwark.test/svc/${n}` })),
    { type: 'Service', id: 'spiffe://evil.test/svc/users' },
  ]
  const resources = [
    ...['shop/users/db', 'shop/users/a/b', 'shop/users/', 'shop/users', 'shop/orders/db', 'shop/', '', 'svc/identity/keys', 'svc/identity/', 'svc/users/x', 'platform/root']
      .map((id) => ({ type: 'Secret' as const, id })),
    ...['shop-pii', 'shop-user-42', 'identity', 'identity-totp', 'identityx', 'users-keys', 'gateway-x'].map((id) => ({ type: 'TransitKey' as const, id })),
    ...['kek', 'transit', 'status'].map((id) => ({ type: 'VaultSystem' as const, id })),
  ]
  const decide = (authz: Authorizer, principal: { type: string; id: string }, action: string, resource: { type: 'Secret' | 'TransitKey' | 'VaultSystem'; id: string }, withEntities: boolean) =>
    authz.authorize({ principal, action: { type: 'Action', id: action }, resource, ...(withEntities ? { entities: entities(principal, resource) } : {}) }).decision
  let allows = 0
  let compared = 0
  for (const principal of principals) {
    for (const action of [...KV_ACTIONS, ...TRANSIT_ACTIONS, ...SYSTEM_ACTIONS]) {
      for (const resource of resources) {
        const expected = decide(local, principal, action, resource, false)
        assert.equal(decide(cedar, principal, action, resource, true), expected, `${principal.id} ${action} ${resource.type}:${resource.id}`)
        compared++
        if (expected === 'allow') allows++
      }
    }
  }
  assert.ok(allows > 50 && compared - allows > 500, `${allows} allows out of ${compared}`)
  cedar.dispose()
})

test('the vault runs on a Cedar authorizer passed through deps', async () => {
  const cedar = createCedarAuthorizer({ policies: POLICIES })
  const h = await startVault({}, { authorizer: cedar })
  try {
    const op = await h.operator()
    const users = await h.client('users')
    await op.call('PUT', '/v1/kv/data/shop/users/db', { data: { password: 'x' } })
    await op.call('PUT', '/v1/kv/data/shop/orders/db', { data: { password: 'y' } })
    assert.equal((await users.call('GET', '/v1/kv/data/shop/users/db')).status, 200)
    const denied = await users.call('GET', '/v1/kv/data/shop/orders/db')
    assert.equal(denied.status, 404)
    assert.equal(denied.body.code, 'BW_VAULT_NOT_FOUND')
  } finally {
    await h.close()
    cedar.dispose()
  }
})
