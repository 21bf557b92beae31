// What the console reads from the platform and does to it, each over mTLS
// with its own SVID: components' /readyz, the CA's certificate inventory and
// quarantine list, the audit log, its proofs and the alerts.
import { createPublicKey } from 'node:crypto'
import { request, serviceSpiffeId } from '@bulwark/core'
import type { Dispatcher } from 'undici'
import { ConsoleErrors } from './errors.ts'
import type { PeerTarget } from './peer-fetch.ts'

export type Peers = { names: readonly string[]; peer(name: string): PeerTarget & { spiffeId: string } }

export type ComponentView = { name: string; spiffeId: string; healthy: boolean; quarantined: boolean; svidExpiresAt: string | null }

async function call(target: PeerTarget, path: string, init: { method?: Dispatcher.HttpMethod; body?: unknown; timeoutMs?: number } = {}): Promise<{ status: number; body: unknown }> {
  const res = await request(`${target.url}${path}`, {
    method: init.method ?? 'GET', dispatcher: target.dispatcher, headersTimeout: init.timeoutMs ?? 3000, bodyTimeout: init.timeoutMs ?? 3000,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body), headers: { 'content-type': 'application/json' } } : {}),
  })
  const text = await res.body.text()
  let body: unknown = undefined
  try { body = text ? JSON.parse(text) : undefined } catch { body = undefined }
  return { status: res.statusCode, body }
}

async function callOk(target: PeerTarget, path: string, init?: Parameters<typeof call>[2]): Promise<unknown> {
  const res = await call(target, path, init)
  if (res.status < 200 || res.status >= 300) {
    const detail = (res.body as { detail?: string } | undefined)?.detail
    throw ConsoleErrors.upstream(`\`${path.split('?')[0]}\` answered ${res.status}${detail ? `: ${detail.slice(0, 200)}` : ''}`)
  }
  return res.body
}

export function createPlatform(peers: Peers, trustDomain: string) {
  const ca = () => peers.peer('ca')
  const audit = () => peers.peer('audit')

  async function readiness(name: string): Promise<boolean> {
    try {
      return (await call(peers.peer(name), '/readyz', { timeoutMs: 2000 })).status === 200
    } catch {
      return false
    }
  }

  return {
    /** Every component: ready or not, quarantined or not, and when its newest certificate expires. */
    async components(): Promise<ComponentView[]> {
      const [health, certs, bundle] = await Promise.all([
        Promise.all(peers.names.map(readiness)),
        callOk(ca(), '/v1/certs?active=true&limit=1000').catch(() => ({ certs: [] })) as Promise<{ certs: Array<{ spiffeId: string; notAfter: string; revoked: boolean }> }>,
        callOk(ca(), '/v1/bundle').catch(() => ({ quarantined: [] })) as Promise<{ quarantined: string[] }>,
      ])
      const expiry = new Map<string, string>()
      for (const cert of certs.certs) {
        if (cert.revoked) continue
        const seen = expiry.get(cert.spiffeId)
        if (!seen || cert.notAfter > seen) expiry.set(cert.spiffeId, cert.notAfter)
      }
      const quarantined = new Set(bundle.quarantined)
      return peers.names.map((name, i) => {
        const spiffeId = serviceSpiffeId(trustDomain, name)
        return { name, spiffeId, healthy: health[i]!, quarantined: quarantined.has(spiffeId), svidExpiresAt: expiry.get(spiffeId) ?? null }
      })
    },
    async alerts(): Promise<unknown[]> {
      return ((await callOk(audit(), '/v1/alerts?limit=100')) as { alerts: unknown[] }).alerts
    },
    async events(query: { before?: number; type?: string; limit: number }): Promise<{ entries: AuditEntry[]; treeSize: number }> {
      const params = new URLSearchParams({ order: 'desc', limit: String(query.limit) })
      if (query.before !== undefined) params.set('before', String(query.before))
      if (query.type) params.set('type', query.type)
      return await callOk(audit(), `/v1/events?${params}`) as { entries: AuditEntry[]; treeSize: number }
    },
    async inclusion(index: number): Promise<{ entry: AuditEntry; proof: InclusionProof; publicKeyJwk: JsonWebKey }> {
      const proof = await callOk(audit(), `/v1/proofs/inclusion?index=${index}`) as InclusionProof
      const page = await callOk(audit(), `/v1/events?after=${index - 1}&limit=1`) as { entries: AuditEntry[] }
      const entry = page.entries[0]
      if (!entry || entry.index !== index) throw ConsoleErrors.badRequest(`no entry ${index}`)
      if (!proof.treeHead.publicKey) throw ConsoleErrors.upstream('the tree head names no public key')
      // JWK for WebCrypto's importKey (Ed25519, RFC 8037); the browser checks the key id against the SPKI itself.
      const publicKeyJwk = createPublicKey(proof.treeHead.publicKey).export({ format: 'jwk' }) as JsonWebKey
      return { entry, proof, publicKeyJwk }
    },
    async quarantine(service: string, release: boolean): Promise<unknown> {
      return await callOk(ca(), release ? '/v1/release' : '/v1/quarantine', { method: 'POST', body: { service } })
    },
  }
}

export type Platform = ReturnType<typeof createPlatform>

export type AuditEntry = {
  index: number
  received: string
  event: { id: string; type: string; time: string; component: string; outcome: string; action: string; actor: { kind: string; id?: string; ip?: string; clientId?: string; spiffeId?: string }; resource?: string; reason?: string; [key: string]: unknown }
}

export type InclusionProof = {
  index: number
  treeSize: number
  leafHash: string
  proof: string[]
  treeHead: { treeSize: number; rootHash: string; timestamp: number; signature: string; keyId: string; publicKey?: string }
}
