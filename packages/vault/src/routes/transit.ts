// Transit routes: keys (create, read, rotate, configure, delete) and data
// operations (encrypt, decrypt, rewrap, hmac, verify, blind-index). Inputs and
// outputs are base64; plaintext never reaches a log or an audit event.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import { isBulwarkError } from '@bulwark/core'
import type { Access, Principal } from '../access.ts'
import type { TransitEngine } from '../transit.ts'
import { checkKeyName } from '../paths.ts'
import { VaultErrors } from '../errors.ts'

const B64 = '^[A-Za-z0-9+/]*={0,2}$'
const hidden = (name: string) => () => VaultErrors.notFound(`transit key \`${name}\` not found`)

export function registerTransitRoutes(app: FastifyInstance, deps: { transit: TransitEngine; access: Access; maxTransitBytes: number }): void {
  const { transit, access } = deps
  const b64 = Type.String({ pattern: B64, maxLength: Math.ceil(deps.maxTransitBytes / 3) * 4 })
  const Ciphertext = Type.String({ maxLength: Math.ceil(deps.maxTransitBytes / 3) * 4 + 64 })
  const Context = Type.Optional(Type.String({ pattern: B64, maxLength: 1368 }))
  const bodies = {
    encrypt: Type.Object({ plaintext: b64, context: Context }, { additionalProperties: false }),
    decrypt: Type.Object({ ciphertext: Ciphertext, context: Context }, { additionalProperties: false }),
    hmac: Type.Object({ input: b64 }, { additionalProperties: false }),
    verify: Type.Object({ input: b64, hmac: Type.String({ maxLength: 128 }) }, { additionalProperties: false }),
    config: Type.Object({ minDecryptionVersion: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
  }
  const batchOf = (item: ReturnType<typeof Type.Object>) => Type.Object({ items: Type.Array(item, { minItems: 1, maxItems: 256 }) }, { additionalProperties: false })
  const decode = (value: string | undefined) => (value === undefined ? undefined : Buffer.from(value, 'base64'))

  function guard(request: FastifyRequest, action: string): { principal: Principal; name: string } {
    const principal = access.principalOf(request)
    const name = checkKeyName((request.params as { name: string }).name)
    access.check(request, principal, action, { type: 'TransitKey', id: name }, hidden(name))
    return { principal, name }
  }

  function op<B>(method: 'get' | 'post' | 'delete', url: string, action: string, type: string, schema: object | undefined,
    fn: (name: string, body: B, principal: Principal) => Promise<{ result: unknown; details?: Record<string, string | number | boolean | null>; status?: number }>): void {
    app.route({
      method: method.toUpperCase() as 'GET', url, ...(schema ? { schema: { body: schema } } : {}),
      handler: async (request, reply) => {
        const { principal, name } = guard(request, action)
        let out
        try {
          out = await fn(name, request.body as B, principal)
        } catch (error) {
          return access.fail(request, principal, type, action, name, error)
        }
        access.audit(request, principal, { type, action, resource: name, outcome: 'success', ...(out.details ? { details: out.details } : {}) })
        return reply.code(out.status ?? 200).send(out.result)
      },
    })
  }

  type Crypt = { plaintext: string; ciphertext: string; context?: string }
  op<Crypt>('post', '/v1/transit/encrypt/:name', 'transit.encrypt', 'transit.encrypted', bodies.encrypt, async (name, body) => {
    const ciphertext = await transit.encrypt(name, decode(body.plaintext)!, decode(body.context))
    return { result: { ciphertext }, details: { keyVersion: Number(ciphertext.split(':')[1]!.slice(1)) } }
  })
  op<Crypt>('post', '/v1/transit/decrypt/:name', 'transit.decrypt', 'transit.decrypted', bodies.decrypt, async (name, body) => {
    const plaintext = await transit.decrypt(name, body.ciphertext, decode(body.context))
    try {
      return { result: { plaintext: plaintext.toString('base64') } }
    } finally {
      plaintext.fill(0)
    }
  })
  // Batches (a page of users, say): one request, one audit event; a bad ciphertext fails only its own item.
  op<{ items: Crypt[] }>('post', '/v1/transit/encrypt-batch/:name', 'transit.encrypt', 'transit.encrypted', batchOf(bodies.encrypt), async (name, body) => {
    const key = await transit.key(name)
    return { result: { items: body.items.map((item) => ({ ciphertext: transit.encryptWith(name, key, decode(item.plaintext)!, decode(item.context)) })) }, details: { count: body.items.length } }
  })
  op<{ items: Crypt[] }>('post', '/v1/transit/decrypt-batch/:name', 'transit.decrypt', 'transit.decrypted', batchOf(bodies.decrypt), async (name, body) => {
    let failed = 0
    const key = await transit.key(name)
    const items = body.items.map((item) => {
      try {
        const plaintext = transit.decryptWith(name, key, item.ciphertext, decode(item.context))
        const out = { plaintext: plaintext.toString('base64') }
        plaintext.fill(0)
        return out
      } catch (error) {
        if (!isBulwarkError(error) || error.status >= 500 || error.code === 'BW_VAULT_NOT_FOUND') throw error
        failed++
        return { error: { code: error.code, detail: error.message } }
      }
    })
    return { result: { items }, details: { count: items.length, failed } }
  })
  op<Crypt>('post', '/v1/transit/rewrap/:name', 'transit.rewrap', 'transit.rewrapped', bodies.decrypt, async (name, body) =>
    ({ result: { ciphertext: await transit.rewrap(name, body.ciphertext, decode(body.context)) } }))
  op<{ input: string }>('post', '/v1/transit/hmac/:name', 'transit.hmac', 'transit.hmac_computed', bodies.hmac, async (name, body) =>
    ({ result: { hmac: await transit.hmac(name, decode(body.input)!) } }))
  op<{ input: string; hmac: string }>('post', '/v1/transit/verify/:name', 'transit.hmac', 'transit.hmac_verified', bodies.verify, async (name, body) => {
    const valid = await transit.verifyHmac(name, decode(body.input)!, body.hmac)
    return { result: { valid }, details: { valid } }
  })
  op<{ input: string }>('post', '/v1/transit/blind-index/:name', 'transit.blind-index', 'transit.blind_indexed', bodies.hmac, async (name, body) =>
    ({ result: { index: await transit.blindIndex(name, decode(body.input)!) } }))

  op('post', '/v1/transit/keys/:name', 'transit.create', 'transit_key.created', undefined, async (name, _body, principal) => {
    const { created, key } = await transit.create(name, principal.spiffeId)
    return { result: key, status: created ? 201 : 200, details: { created } }
  })
  op('get', '/v1/transit/keys/:name', 'transit.read', 'transit_key.read', undefined, async (name) => ({ result: await transit.info(name) }))
  op('post', '/v1/transit/keys/:name/rotate', 'transit.rotate', 'transit_key.rotated', undefined, async (name) => {
    const key = await transit.rotate(name)
    return { result: key, details: { latestVersion: key.latestVersion } }
  })
  op<{ minDecryptionVersion: number }>('post', '/v1/transit/keys/:name/config', 'transit.configure', 'transit_key.configured', bodies.config, async (name, body) => {
    const key = await transit.setMinDecryptionVersion(name, body.minDecryptionVersion)
    return { result: key, details: { minDecryptionVersion: key.minDecryptionVersion } }
  })
  op('delete', '/v1/transit/keys/:name', 'transit.delete', 'transit_key.deleted', undefined, async (name) => {
    await transit.delete(name)
    return { result: { name, deleted: true } }
  })

  app.get('/v1/transit/keys', async (request) => {
    const principal = access.principalOf(request)
    const keys = (await transit.names()).filter((name) => access.isAllowed(principal, 'transit.read', { type: 'TransitKey', id: name }))
    access.audit(request, principal, { type: 'transit_key.listed', action: 'transit.read', outcome: 'success', details: { count: keys.length } })
    return { keys }
  })
}
