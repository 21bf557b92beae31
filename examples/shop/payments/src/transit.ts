// The payments service's view of vault transit, on `@bulwark/sdk/vault`: the
// card number is encrypted by the vault and never stored in plaintext here.
// Vault failures become a 502 that names no value.
import { BulwarkError } from '@bulwark/core'
import { createVaultClient } from '@bulwark/sdk/vault'
import type { Dispatcher } from 'undici'

export type Transit = {
  createKey(name: string): Promise<void>
  encrypt(name: string, plaintext: string, context: string): Promise<string>
  decrypt(name: string, ciphertext: string, context: string): Promise<string>
}

async function guarded<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation()
  } catch (error) {
    throw new BulwarkError('BW_SHOP_VAULT_FAILED', 502, 'vault refused a transit operation', { cause: error })
  }
}

export function createTransit(options: { url: string; dispatcher: Dispatcher }): Transit {
  const { transit } = createVaultClient({ url: options.url, dispatcher: options.dispatcher, timeoutMs: 5000 })
  return {
    createKey: (name) => guarded(async () => { await transit.createKey(name) }),
    encrypt: (name, plaintext, context) => guarded(() => transit.encrypt(name, plaintext, { context })),
    decrypt: (name, ciphertext, context) => guarded(() => transit.decryptText(name, ciphertext, { context })),
  }
}
