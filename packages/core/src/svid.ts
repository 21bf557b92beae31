// An SVID is the key and certificate chain a workload proves itself with.
// Sources hand out the current one and announce rotations, so servers and
// clients switch certificates without dropping in-flight requests.
import { X509Certificate } from 'node:crypto'

export type Svid = {
  spiffeId: string
  /** PKCS#8 PEM private key. Never logged. */
  keyPem: string
  /** Leaf certificate PEM. */
  certPem: string
  /** Intermediate certificate(s) PEM, sent after the leaf. */
  chainPem: string
  /** Trust anchors (root certificates) PEM. */
  bundlePem: string
  /** Leaf expiry, ms since epoch. */
  notAfter: number
  /** Leaf serial number, upper-case hex. */
  serial: string
}

export type SvidSource = {
  current(): Svid
  /** Calls `listener` after each rotation; returns an unsubscribe function. */
  onRotate(listener: (svid: Svid) => void): () => void
}

export type MutableSvidSource = SvidSource & { update(svid: Svid): void }

export function createSvidSource(initial: Svid): MutableSvidSource {
  let svid = initial
  const listeners = new Set<(svid: Svid) => void>()
  return {
    current: () => svid,
    onRotate(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    update(next) {
      svid = next
      for (const listener of listeners) listener(next)
    },
  }
}

/** Reads expiry and serial from a leaf PEM, for building an Svid from files. */
export function describeCertificate(certPem: string): { notAfter: number; serial: string; subjectAltName?: string } {
  const cert = new X509Certificate(certPem)
  return { notAfter: Date.parse(cert.validTo), serial: cert.serialNumber.toUpperCase(), subjectAltName: cert.subjectAltName }
}
