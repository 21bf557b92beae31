// The proposed rule in extra-policy.ts is valid Cedar against the platform
// schema and permits exactly the users -> identity revoke call.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { callEntities } from '@bulwark/sdk/service'
import { testAuthorizer } from '../../../../packages/sdk/test/service-support/index.ts'
import { USERS_REVOKE_ON_ERASE } from './extra-policy.ts'

test('users may ask identity to revoke a subject; nothing else new is allowed', () => {
  const authz = testAuthorizer(USERS_REVOKE_ON_ERASE, true)
  const ask = (caller: string, method: string, route: string) => {
    const entities = callEntities(`spiffe://bulwark.local/svc/${caller}`, 'identity', method, route)
    return authz.authorize({ principal: entities[0]!.uid, action: { type: 'Action', id: 'call' }, resource: entities[1]!.uid, context: {}, entities }).decision
  }
  assert.equal(ask('users', 'POST', '/admin/v1/subjects/:id/revoke'), 'allow')
  assert.equal(ask('orders', 'POST', '/admin/v1/subjects/:id/revoke'), 'deny')
  assert.equal(ask('users', 'POST', '/admin/v1/keys/rotate'), 'deny')
  assert.equal(ask('users', 'GET', '/admin/v1/users'), 'deny')
})
