// First SVID: redeem a one-time join token at the CA, or (on Kubernetes)
// attest with the pod's projected service-account token. The connection is
// server-authenticated only (we have no certificate yet); the CA must chain
// to the root we were given AND present the CA's SPIFFE ID.
import { readFileSync } from 'node:fs'
import type { PeerCertificate } from 'node:tls'
import { Agent, request, parseSpiffeId, spiffeIdOfCertificate, type Svid } from '@bulwark/core'
import { createKeyAndCsr } from './csr.ts'
import { caSpiffeIdFor, svidFromResponse } from './response.ts'

export type ObtainSvidOptions = {
  caUrl: string
  /** The root certificate PEM (`.bulwark/ca/root.crt`). */
  rootPem: string
  /** A one-time join token (`bulwark up`)... */
  joinToken?: string
  /** ...or a projected service-account token file (audience `bulwark-ca`), read afresh at every attempt. */
  kubernetesTokenFile?: string
  spiffeId: string
  dnsNames?: string[]
  ipAddresses?: string[]
  timeoutMs?: number
  /** Attempts while the CA is unreachable or answers 5xx/429 (a refused token is final). Default 5. */
  attempts?: number
  retryBaseMs?: number
}

export class SvidRequestError extends Error {
  readonly status: number | undefined
  readonly code: string | undefined
  constructor(message: string, status?: number, code?: string) {
    super(message)
    this.name = 'SvidRequestError'
    this.status = status
    this.code = code
  }
}

/** Reads a JSON answer; a non-2xx becomes an SvidRequestError naming the CA's problem code. */
export async function readCaAnswer(res: Awaited<ReturnType<typeof request>>, what: string): Promise<unknown> {
  const text = await res.body.text()
  let body: unknown
  try { body = text ? JSON.parse(text) : undefined } catch { body = undefined }
  if (res.statusCode < 200 || res.statusCode >= 300) {
    const problem = body as { code?: string; detail?: string } | undefined
    throw new SvidRequestError(`${what}: ca answered ${res.statusCode}${problem?.code ? ` ${problem.code}` : ''}: ${problem?.detail ?? 'no detail'}`, res.statusCode, problem?.code)
  }
  return body
}

const NETWORK_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT'])

/** Only an unreachable or overloaded CA is worth another try; identity and token errors are final. */
function retryable(error: unknown): boolean {
  if (error instanceof SvidRequestError) return error.status !== undefined && (error.status >= 500 || error.status === 429)
  return NETWORK_ERRORS.has(String((error as { code?: unknown }).code))
}

/**
 * Generates a key locally and exchanges a join token + CSR for an SVID.
 * Retries (with backoff) only while the CA is unreachable or unavailable: the
 * token is spent only when a certificate is issued, so a retry is safe.
 */
export async function obtainSvid(options: ObtainSvidOptions): Promise<Svid> {
  const attempts = options.attempts ?? 5
  const base = options.retryBaseMs ?? 250
  for (let attempt = 1; ; attempt++) {
    try {
      return await obtainOnce(options)
    } catch (error) {
      if (attempt >= attempts || !retryable(error)) throw error
      await new Promise((resolve) => setTimeout(resolve, base * 2 ** (attempt - 1)))
    }
  }
}

/** Where to send the CSR and with what proof. */
function proofOf(options: ObtainSvidOptions): { path: string; what: string; body: (csr: string) => string } {
  if (options.kubernetesTokenFile) {
    const file = options.kubernetesTokenFile
    return { path: '/v1/svid/attest/k8s', what: 'attest', body: (csr) => JSON.stringify({ token: readFileSync(file, 'utf8').trim(), csr }) }
  }
  const joinToken = options.joinToken
  if (!joinToken) throw new TypeError('obtainSvid needs a joinToken or a kubernetesTokenFile')
  return { path: '/v1/svid/join', what: 'join', body: (csr) => JSON.stringify({ joinToken, csr }) }
}

async function obtainOnce(options: ObtainSvidOptions): Promise<Svid> {
  if (!parseSpiffeId(options.spiffeId)) throw new TypeError(`\`${options.spiffeId}\` is not a SPIFFE ID`)
  const proof = proofOf(options)
  const expectedCa = caSpiffeIdFor(options.spiffeId)
  const material = await createKeyAndCsr(options)
  const agent = new Agent({
    connect: {
      ca: options.rootPem,
      minVersion: 'TLSv1.3',
      rejectUnauthorized: true,
      checkServerIdentity: (_host: string, cert: PeerCertificate) => {
        const id = spiffeIdOfCertificate(cert)
        return id === expectedCa ? undefined : new Error(`server \`${id ?? 'without SPIFFE ID'}\` is not the CA \`${expectedCa}\``)
      },
    },
  })
  try {
    const res = await request(new URL(proof.path, options.caUrl), {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: proof.body(material.csrPem),
      headersTimeout: options.timeoutMs ?? 15_000,
      bodyTimeout: options.timeoutMs ?? 15_000,
    })
    return svidFromResponse(await readCaAnswer(res, proof.what), options.spiffeId, material)
  } finally {
    await agent.close()
  }
}
