// Renewal at half-life over mTLS with the current SVID (the CA checks the
// caller is the same SPIFFE ID and neither revoked nor quarantined). Failures
// retry with capped exponential backoff; the old SVID stays in use meanwhile.
import { X509Certificate } from 'node:crypto'
import { request, createMtlsAgent, expectSpiffeId, systemClock, type Clock, type Logger, type MutableSvidSource, type Svid, type SvidSource } from '@bulwark/core'
import { createKeyAndCsr } from './csr.ts'
import { readCaAnswer } from './obtain.ts'
import { caSpiffeIdFor, svidFromResponse } from './response.ts'

/** DNS and IP SANs of the current leaf, so a renewal asks for the same names. */
export function servingNamesOf(certPem: string): { dnsNames: string[]; ipAddresses: string[] } {
  const san = new X509Certificate(certPem).subjectAltName ?? ''
  const dnsNames: string[] = []
  const ipAddresses: string[] = []
  for (const part of san.split(/,\s*/)) {
    if (part.startsWith('DNS:')) dnsNames.push(part.slice(4))
    else if (part.startsWith('IP Address:')) ipAddresses.push(part.slice('IP Address:'.length))
  }
  return { dnsNames, ipAddresses }
}

/** One renewal: new key, CSR for the same identity, sent over mTLS with the current SVID. */
export async function renewSvid(options: { caUrl: string; source: SvidSource; timeoutMs?: number }): Promise<Svid> {
  const current = options.source.current()
  const material = await createKeyAndCsr({ spiffeId: current.spiffeId, ...servingNamesOf(current.certPem) })
  // A fresh agent per renewal: renewals are rare and must present the current certificate.
  const agent = createMtlsAgent(options.source, { verifyPeer: expectSpiffeId(caSpiffeIdFor(current.spiffeId)), connections: 1 })
  try {
    const res = await request(new URL('/v1/svid/renew', options.caUrl), {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ csr: material.csrPem }),
      headersTimeout: options.timeoutMs ?? 15_000,
      bodyTimeout: options.timeoutMs ?? 15_000,
    })
    return svidFromResponse(await readCaAnswer(res, 'renew'), current.spiffeId, material)
  } finally {
    await agent.close()
  }
}

export type SvidRotationOptions = {
  caUrl: string
  source: MutableSvidSource
  log: Logger
  clock?: Clock
  /** First retry delay after a failed renewal (doubles up to maxBackoffMs). Default 1 s. */
  retryBaseMs?: number
  maxBackoffMs?: number
  /** Told after each successful renewal (metrics, audit). */
  onRenewed?: (svid: Svid) => void
}

/**
 * Keeps `source` fresh: renews when half of the remaining lifetime of each new
 * SVID has passed, then updates the source (servers and agents pick it up).
 */
export function startSvidRotation(options: SvidRotationOptions): { stop(): void; renewNow(): Promise<void> } {
  const clock = options.clock ?? systemClock
  const base = options.retryBaseMs ?? 1000
  const cap = options.maxBackoffMs ?? 30_000
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  let attempt = 0
  let running: Promise<void> | undefined

  function schedule(delay: number): void {
    if (stopped) return
    clearTimeout(timer)
    timer = setTimeout(() => { void renew() }, Math.max(0, delay))
    timer.unref()
  }

  function scheduleHalfLife(svid: Svid): void {
    attempt = 0
    schedule((svid.notAfter - clock.now()) / 2)
  }

  async function attemptRenewal(): Promise<void> {
    try {
      const next = await renewSvid({ caUrl: options.caUrl, source: options.source })
      if (stopped) return
      options.log.info({ spiffeId: next.spiffeId, serial: next.serial, notAfter: new Date(next.notAfter).toISOString() }, 'svid renewed')
      options.source.update(next) // onRotate reschedules at the new half-life
      options.onRenewed?.(next)
    } catch (error) {
      if (stopped) return
      attempt += 1
      const remaining = options.source.current().notAfter - clock.now()
      // Back off, but keep several tries inside the remaining lifetime.
      const delay = Math.min(cap, base * 2 ** (attempt - 1), Math.max(base, remaining / 4)) * (0.8 + Math.random() * 0.4)
      options.log.warn({ err: (error as Error).message, attempt, retryInMs: Math.round(delay), expiresInMs: remaining }, 'svid renewal failed')
      schedule(delay)
    }
  }

  function renew(): Promise<void> {
    running ??= attemptRenewal().finally(() => { running = undefined })
    return running
  }

  const unsubscribe = options.source.onRotate(scheduleHalfLife)
  scheduleHalfLife(options.source.current())
  return {
    stop() {
      stopped = true
      clearTimeout(timer)
      unsubscribe()
    },
    renewNow: renew,
  }
}
