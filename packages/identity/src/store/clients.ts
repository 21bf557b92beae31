// OAuth clients: registered clients live in the store with their secret stored
// only as a hash; workload clients `svc-<name>` are implied by the trust
// domain (tls_client_auth bound to `spiffe://<td>/svc/<name>`, RFC 8705).
import type { Clock, SqlStore } from '@bulwark/core'
import { hashClientSecret } from './crypto.ts'

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'

export type ClientMetadata = {
  client_id: string
  client_secret?: string
  token_endpoint_auth_method?: string
  grant_types?: string[]
  response_types?: string[]
  redirect_uris?: string[]
  post_logout_redirect_uris?: string[]
  scope?: string
  client_name?: string
  application_type?: 'web' | 'native'
  jwks?: { keys: unknown[] }
  first_party?: boolean
  [key: string]: unknown
}

export type ClientStore = {
  /** Metadata as oidc-provider sees it (secret replaced by its hash). */
  providerMetadata(clientId: string): Promise<ClientMetadata | undefined>
  create(metadata: ClientMetadata): Promise<ClientMetadata>
  get(clientId: string): Promise<ClientMetadata | undefined>
  list(): Promise<ClientMetadata[]>
  remove(clientId: string): Promise<boolean>
}

const SVC_CLIENT = /^svc-([a-z][a-z0-9-]{0,31})$/

export function workloadClientMetadata(trustDomain: string, name: string): ClientMetadata {
  return {
    client_id: `svc-${name}`,
    client_name: `workload ${name}`,
    token_endpoint_auth_method: 'tls_client_auth',
    tls_client_auth_san_uri: `spiffe://${trustDomain}/svc/${name}`,
    tls_client_certificate_bound_access_tokens: true,
    grant_types: ['client_credentials', TOKEN_EXCHANGE_GRANT],
    response_types: [],
    redirect_uris: [],
    first_party: true,
  }
}

function redact(metadata: ClientMetadata): ClientMetadata {
  const { client_secret: _secret, ...rest } = metadata
  return { ...rest, ...(metadata.client_secret ? { client_secret_hashed: true } : {}) }
}

export function createClientStore(db: SqlStore, options: { trustDomain: string; clock: Clock }): ClientStore {
  // Client lookups happen on every token request; registrations are rare. On SQLite one process owns the
  // file, so parsed rows are cached; on PostgreSQL another replica may register or remove a client at any
  // time, so every lookup reads the row (one primary-key read).
  const cache = db.dialect === 'sqlite' ? new Map<string, ClientMetadata>() : undefined
  async function load(clientId: string): Promise<ClientMetadata | undefined> {
    const cached = cache?.get(clientId)
    if (cached !== undefined) return cached
    const row = await db.one<{ metadata: string }>('SELECT metadata FROM clients WHERE client_id = ?', [clientId])
    const metadata = row ? JSON.parse(row.metadata) as ClientMetadata : undefined
    if (metadata) cache?.set(clientId, metadata)
    return metadata
  }
  const workloads = new Map<string, ClientMetadata>()
  return {
    async providerMetadata(clientId) {
      if (typeof clientId !== 'string' || clientId.length > 128) return undefined
      const svc = SVC_CLIENT.exec(clientId)
      if (svc) {
        let metadata = workloads.get(clientId)
        if (!metadata) workloads.set(clientId, metadata = workloadClientMetadata(options.trustDomain, svc[1]!))
        return metadata
      }
      return await load(clientId)
    },
    async create(metadata) {
      if (SVC_CLIENT.test(metadata.client_id)) throw new TypeError('`svc-*` client ids are reserved for workloads')
      const stored = { ...metadata, ...(metadata.client_secret ? { client_secret: hashClientSecret(metadata.client_secret) } : {}) }
      await db.run('INSERT INTO clients (client_id, metadata, created_at) VALUES (?, ?, ?)', [metadata.client_id, JSON.stringify(stored), options.clock.now()])
      cache?.delete(metadata.client_id)
      return redact(stored)
    },
    async get(clientId) {
      const metadata = await load(clientId)
      return metadata ? redact(metadata) : undefined
    },
    list: async () => (await db.all<{ metadata: string }>('SELECT metadata FROM clients ORDER BY client_id')).map((row) => redact(JSON.parse(row.metadata) as ClientMetadata)),
    async remove(clientId) {
      cache?.delete(clientId)
      return (await db.run('DELETE FROM clients WHERE client_id = ?', [clientId])).changes > 0
    },
  }
}
