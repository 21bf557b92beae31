// Vault transit over mTLS (POST /v1/transit/...): per-user data keys, the
// email blind index, and key deletion for crypto-shredding. A small local
// client until `@bulwark/sdk/vault` (createVaultClient) is used instead.
import { request, type Dispatcher } from 'undici'
import { BulwarkError } from '@bulwark/core'

export type Transit = {
  createKey(name: string): Promise<void>
  deleteKey(name: string): Promise<void>
  encrypt(name: string, plaintext: string, context: string): Promise<string>
  decrypt(name: string, ciphertext: string, context: string): Promise<string>
  blindIndex(name: string, value: string): Promise<string>
}

export function createTransit(options: { url: string; dispatcher: Dispatcher }): Transit {
  async function call(method: 'POST' | 'DELETE', path: string, body?: unknown, allowMissing = false): Promise<Record<string, unknown>> {
    const response = await request(`${options.url}${path}`, {
      method, dispatcher: options.dispatcher, headersTimeout: 5000, bodyTimeout: 5000,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const json = await response.body.json().catch(() => ({})) as Record<string, unknown>
    if (allowMissing && response.statusCode === 404) return json
    if (response.statusCode >= 300) {
      throw new BulwarkError('BW_SHOP_VAULT_FAILED', 502, 'vault refused a transit operation', { cause: new Error(`vault ${path.split('/').slice(0, 4).join('/')}: ${response.statusCode} ${String(json.code ?? '')}`) })
    }
    return json
  }
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64')
  const key = (name: string) => encodeURIComponent(name)
  return {
    async createKey(name) { await call('POST', `/v1/transit/keys/${key(name)}`) },
    // A key that is already gone is already shredded.
    async deleteKey(name) { await call('DELETE', `/v1/transit/keys/${key(name)}`, undefined, true) },
    async encrypt(name, plaintext, context) {
      return String((await call('POST', `/v1/transit/encrypt/${key(name)}`, { plaintext: b64(plaintext), context: b64(context) })).ciphertext)
    },
    async decrypt(name, ciphertext, context) {
      const out = await call('POST', `/v1/transit/decrypt/${key(name)}`, { ciphertext, context: b64(context) })
      return Buffer.from(String(out.plaintext), 'base64').toString('utf8')
    },
    async blindIndex(name, value) {
      return String((await call('POST', `/v1/transit/blind-index/${key(name)}`, { input: b64(value) })).index)
    },
  }
}
