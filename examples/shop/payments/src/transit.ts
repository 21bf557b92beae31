// Vault transit over mTLS (POST /v1/transit/...): the card number is
// encrypted by the vault and never stored in plaintext here. A small local
// client until `@bulwark/sdk/vault` (createVaultClient) is used instead.
import { request, type Dispatcher } from 'undici'
import { BulwarkError } from '@bulwark/core'

export type Transit = {
  createKey(name: string): Promise<void>
  encrypt(name: string, plaintext: string, context: string): Promise<string>
  decrypt(name: string, ciphertext: string, context: string): Promise<string>
}

export function createTransit(options: { url: string; dispatcher: Dispatcher }): Transit {
  async function call(method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<Record<string, unknown>> {
    const response = await request(`${options.url}${path}`, {
      method, dispatcher: options.dispatcher, headersTimeout: 5000, bodyTimeout: 5000,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const json = await response.body.json().catch(() => ({})) as Record<string, unknown>
    if (response.statusCode >= 300) {
      throw new BulwarkError('BW_SHOP_VAULT_FAILED', 502, 'vault refused a transit operation', { cause: new Error(`vault ${path.split('/').slice(0, 4).join('/')}: ${response.statusCode} ${String(json.code ?? '')}`) })
    }
    return json
  }
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64')
  return {
    async createKey(name) { await call('POST', `/v1/transit/keys/${encodeURIComponent(name)}`) },
    async encrypt(name, plaintext, context) {
      const out = await call('POST', `/v1/transit/encrypt/${encodeURIComponent(name)}`, { plaintext: b64(plaintext), context: b64(context) })
      return String(out.ciphertext)
    },
    async decrypt(name, ciphertext, context) {
      const out = await call('POST', `/v1/transit/decrypt/${encodeURIComponent(name)}`, { ciphertext, context: b64(context) })
      return Buffer.from(String(out.plaintext), 'base64').toString('utf8')
    },
  }
}
