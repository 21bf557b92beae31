// @bulwark/sdk/vault: the client services use for secrets and transit
// encryption. Talks to the vault over mTLS (pass the runtime's peer
// dispatcher); keys never leave the vault.
//
// @example
// const vault = createVaultClient({ url: rt.peer('vault').url, dispatcher: rt.peer('vault').dispatcher })
// const ct = await vault.transit.encrypt('shop-pii', 'alice@example.com')
// const email = await vault.transit.decryptText('shop-pii', ct)
// const secrets = await vault.watch(['shop/users/db'], { onChange: (path) => reconnect(path) })
// secrets.get('shop/users/db')?.data.password
import { request } from '@bulwark/core'
import type { Dispatcher } from 'undici'
import { VaultError } from './errors.ts'
import { startWatcher, type SecretsWatcher, type WatchOptions } from './watcher.ts'
import { toSecret, type Secret } from './secret.ts'

export { VaultError } from './errors.ts'
export type { Secret } from './secret.ts'
export type { SecretsWatcher, WatchOptions } from './watcher.ts'

export type VaultClientOptions = {
  url: string
  /** An mTLS dispatcher that verifies the vault's SPIFFE ID (`rt.peer('vault').dispatcher`). */
  dispatcher?: Dispatcher
  /** Alias of `dispatcher`. */
  agent?: Dispatcher
  timeoutMs?: number
}

export type Bytes = string | Uint8Array
type CallOptions = { headers?: Record<string, string>; signal?: AbortSignal; query?: string; timeoutMs?: number }

const enc = (value: Bytes) => Buffer.from(typeof value === 'string' ? Buffer.from(value, 'utf8') : value).toString('base64')
const segment = (path: string) => path.split('/').map(encodeURIComponent).join('/')

export function createVaultClient(options: VaultClientOptions) {
  const dispatcher = options.dispatcher ?? options.agent
  const base = options.url.replace(/\/+$/, '')

  async function call(method: string, path: string, body?: unknown, opts: CallOptions = {}): Promise<{ status: number; body: any; etag?: string }> {
    const res = await request(`${base}${path}${opts.query ?? ''}`, {
      method: method as 'GET', dispatcher, signal: opts.signal,
      headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...opts.headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: opts.timeoutMs ?? options.timeoutMs ?? 10_000, bodyTimeout: opts.timeoutMs ?? options.timeoutMs ?? 10_000,
    })
    const text = await res.body.text()
    let parsed: any
    try { parsed = text ? JSON.parse(text) : undefined } catch { parsed = undefined }
    if (res.statusCode === 304) return { status: 304, body: undefined, etag: res.headers.etag as string | undefined }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      throw new VaultError(res.statusCode, String(parsed?.code ?? 'BW_VAULT_ERROR'), String(parsed?.detail ?? 'request failed').slice(0, 300))
    }
    return { status: res.statusCode, body: parsed, etag: res.headers.etag as string | undefined }
  }
  const post = async (path: string, body?: unknown) => (await call('POST', path, body)).body

  const kv = {
    async get(path: string, opts: { version?: number } = {}): Promise<Secret> {
      const query = opts.version === undefined ? '' : `?version=${opts.version}`
      return toSecret((await call('GET', `/v1/kv/data/${segment(path)}`, undefined, { query })).body)
    },
    async put(path: string, data: Record<string, unknown>, opts: { cas?: number } = {}): Promise<{ path: string; version: number; createdAt: string }> {
      return (await call('PUT', `/v1/kv/data/${segment(path)}`, { data, ...(opts.cas === undefined ? {} : { cas: opts.cas }) })).body
    },
    /** Direct children of `prefix`; folders end in `/`. An empty or forbidden prefix is a 404 VaultError. */
    async list(prefix: string): Promise<string[]> {
      return (await call('GET', `/v1/kv/list/${segment(prefix)}`)).body.keys
    },
    async delete(path: string): Promise<{ path: string; deleted: number[] }> {
      return (await call('DELETE', `/v1/kv/data/${segment(path)}`)).body
    },
    async metadata(path: string): Promise<Record<string, unknown>> {
      return (await call('GET', `/v1/kv/metadata/${segment(path)}`)).body
    },
  }

  const key = (name: string) => encodeURIComponent(name)
  const ctx = (context?: Bytes) => (context === undefined ? {} : { context: enc(context) })
  const transit = {
    async encrypt(name: string, plaintext: Bytes, opts: { context?: Bytes } = {}): Promise<string> {
      return (await post(`/v1/transit/encrypt/${key(name)}`, { plaintext: enc(plaintext), ...ctx(opts.context) })).ciphertext
    },
    async decrypt(name: string, ciphertext: string, opts: { context?: Bytes } = {}): Promise<Buffer> {
      return Buffer.from((await post(`/v1/transit/decrypt/${key(name)}`, { ciphertext, ...ctx(opts.context) })).plaintext, 'base64')
    },
    async decryptText(name: string, ciphertext: string, opts: { context?: Bytes } = {}): Promise<string> {
      return (await transit.decrypt(name, ciphertext, opts)).toString('utf8')
    },
    /** Encrypts many values in one request (at most 256), in order. */
    async encryptBatch(name: string, items: Array<{ plaintext: Bytes; context?: Bytes }>): Promise<string[]> {
      const body = await post(`/v1/transit/encrypt-batch/${key(name)}`, { items: items.map((i) => ({ plaintext: enc(i.plaintext), ...ctx(i.context) })) })
      return (body.items as Array<{ ciphertext: string }>).map((i) => i.ciphertext)
    },
    /** Decrypts many values (at most 256), in order; an item that fails authentication comes back as a VaultError, not a throw. */
    async decryptBatch(name: string, items: Array<{ ciphertext: string; context?: Bytes }>): Promise<Array<Buffer | VaultError>> {
      const body = await post(`/v1/transit/decrypt-batch/${key(name)}`, { items: items.map((i) => ({ ciphertext: i.ciphertext, ...ctx(i.context) })) })
      return (body.items as Array<{ plaintext?: string; error?: { code: string; detail: string } }>).map((i) =>
        i.error ? new VaultError(400, i.error.code, i.error.detail) : Buffer.from(i.plaintext!, 'base64'))
    },
    async rewrap(name: string, ciphertext: string, opts: { context?: Bytes } = {}): Promise<string> {
      return (await post(`/v1/transit/rewrap/${key(name)}`, { ciphertext, ...ctx(opts.context) })).ciphertext
    },
    async hmac(name: string, input: Bytes): Promise<string> {
      return (await post(`/v1/transit/hmac/${key(name)}`, { input: enc(input) })).hmac
    },
    async verifyHmac(name: string, input: Bytes, hmac: string): Promise<boolean> {
      return (await post(`/v1/transit/verify/${key(name)}`, { input: enc(input), hmac })).valid
    },
    /** Deterministic per key (stable across rotations): store it next to the ciphertext and look rows up by it. */
    async blindIndex(name: string, input: Bytes): Promise<string> {
      return (await post(`/v1/transit/blind-index/${key(name)}`, { input: enc(input) })).index
    },
    /** Creates the key unless it exists (idempotent). */
    async createKey(name: string): Promise<{ name: string; latestVersion: number }> {
      return post(`/v1/transit/keys/${key(name)}`)
    },
    async rotateKey(name: string): Promise<{ name: string; latestVersion: number }> {
      return post(`/v1/transit/keys/${key(name)}/rotate`)
    },
    /** Crypto-shredding: everything encrypted under the key becomes unreadable. */
    async deleteKey(name: string): Promise<void> {
      await call('DELETE', `/v1/transit/keys/${key(name)}`)
    },
  }

  return {
    kv,
    transit,
    /** Fetches `paths` now (rejects if any is unreadable) and keeps them current by long-polling. */
    watch(paths: string[], opts: WatchOptions = {}): Promise<SecretsWatcher> {
      return startWatcher(paths, opts, (path, etag, signal, waitSeconds) => call('GET', `/v1/kv/data/${segment(path)}`, undefined, {
        signal, query: etag ? `?wait=${waitSeconds}` : '', headers: etag ? { 'if-none-match': etag } : {}, timeoutMs: (waitSeconds + 10) * 1000,
      }))
    },
  }
}

export type VaultClient = ReturnType<typeof createVaultClient>
