// The service token verifier keeps verified tokens (as the gateway does): the
// signature is checked once per token, while the act/peer check, the
// revocation feed and the expiry apply on every use.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SignJWT, generateKeyPair } from 'jose'
import { createManualClock, serviceSpiffeId } from '@bulwark/core'
import { createTokenVerifier, ServiceErrors, type RevocationFeed } from '../src/service/index.ts'

const ISSUER = 'https://localhost:8443'
const TD = 'bulwark.test'

test('a verified token is cached: its signature is checked once, yet the act/peer check, revocation and expiry apply on every use', async () => {
  const clock = createManualClock(Date.now())
  const { publicKey, privateKey } = await generateKeyPair('ES256')
  let keyLookups = 0
  const revoked = new Set<string>()
  const revocations: RevocationFeed = {
    check(token) { if (revoked.has(token.sub)) throw ServiceErrors.tokenRevoked() },
    healthy: () => true, ready: async () => {}, stop: () => {}, size: 0,
  }
  const verify = createTokenVerifier({
    keys: async () => { keyLookups++; return publicKey }, issuer: ISSUER, audience: serviceSpiffeId(TD, 'notes'), clock, revocations,
  })
  const now = Math.floor(clock.now() / 1000)
  const token = await new SignJWT({ sub: 'alice', client_id: 'shop-cli', roles: ['customer'], act: { sub: serviceSpiffeId(TD, 'gateway') } })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).setIssuer(ISSUER).setAudience(serviceSpiffeId(TD, 'notes'))
    .setIssuedAt(now).setExpirationTime(now + 60).setJti('j1').sign(privateKey)
  const gateway = serviceSpiffeId(TD, 'gateway')

  assert.equal((await verify(token, gateway)).sub, 'alice')
  assert.equal((await verify(token, gateway)).sub, 'alice')
  assert.equal(keyLookups, 1, 'the second use did not verify the signature again')
  await assert.rejects(verify(token, serviceSpiffeId(TD, 'orders')), { code: 'BW_AUTHN_TOKEN_ACTOR' }, 'another workload presenting a cached token')
  revoked.add('alice')
  await assert.rejects(verify(token, gateway), { code: 'BW_AUTHN_TOKEN_REVOKED' })
  revoked.clear()
  clock.advance(120_000)
  await assert.rejects(verify(token, gateway), { code: 'BW_AUTHN_TOKEN_EXPIRED' })
})
