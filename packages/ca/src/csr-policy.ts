// What a CSR may ask for. The CA copies nothing from a CSR but its public key
// and the names this policy accepted: one SPIFFE ID URI SAN in our trust
// domain (X.509-SVID §2, §4) and DNS/IP SANs only for the gateway, only from
// the configured serving names. The CSR's self-signature proves possession.
import { isIP } from 'node:net'
import { parseSpiffeId, serviceSpiffeId } from '@bulwark/core'
import { x509 } from './x509.ts'
import { CaErrors } from './errors.ts'

export type CsrGrant = {
  spiffeId: string
  publicKey: CryptoKey
  dnsNames: string[]
  ipAddresses: string[]
}

export type CsrPolicy = { trustDomain: string; servingNames: readonly string[] }

const SAN_OID = '2.5.29.17'
const ALLOWED_CURVES = new Set(['P-256', 'P-384'])

function parse(pem: string): x509.Pkcs10CertificateRequest {
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN CERTIFICATE REQUEST-----')) throw CaErrors.csrInvalid()
  try {
    return new x509.Pkcs10CertificateRequest(pem)
  } catch {
    throw CaErrors.csrInvalid()
  }
}

/** Normalises an IP SAN for comparison (`::1` and `0:0:…:1` are the same name). */
function canonicalIp(ip: string): string {
  if (isIP(ip) === 6) return new URL(`http://[${ip}]/`).hostname.slice(1, -1)
  return ip
}

/**
 * Parses and checks a CSR. Throws a catalogued BulwarkError naming the first
 * problem; returns only what the CA will put in the certificate.
 */
export async function checkCsr(pem: string, policy: CsrPolicy): Promise<CsrGrant> {
  const csr = parse(pem)
  const algorithm = csr.publicKey.algorithm as { name?: string; namedCurve?: string }
  if (algorithm.name !== 'ECDSA' || !ALLOWED_CURVES.has(algorithm.namedCurve ?? '')) {
    throw CaErrors.csrKey(`csr key \`${algorithm.name ?? '?'}${algorithm.namedCurve ? ` ${algorithm.namedCurve}` : ''}\` is not allowed: use ECDSA P-256 or P-384`)
  }
  let valid = false
  try { valid = await csr.verify() } catch { valid = false }
  if (!valid) throw CaErrors.csrSignature()

  const sanExtensions = csr.extensions.filter((e) => e.type === SAN_OID)
  if (sanExtensions.length !== 1) throw CaErrors.csrSan()
  const names = new x509.SubjectAlternativeNameExtension(sanExtensions[0]!.rawData).names.toJSON()
  const uris: string[] = []
  const dnsNames: string[] = []
  const ipAddresses: string[] = []
  for (const name of names) {
    if (name.type === 'url') uris.push(name.value)
    else if (name.type === 'dns') dnsNames.push(name.value.toLowerCase())
    else if (name.type === 'ip') ipAddresses.push(canonicalIp(name.value))
    else throw CaErrors.csrSan(`csr SAN type \`${name.type}\` is not allowed`)
  }
  if (uris.length !== 1) throw CaErrors.csrSan()
  const spiffeId = uris[0]!
  const parsed = parseSpiffeId(spiffeId)
  if (!parsed || parsed.path === '') throw CaErrors.csrSan(`csr URI SAN \`${spiffeId.slice(0, 200)}\` is not a SPIFFE ID of a workload`)
  if (parsed.trustDomain !== policy.trustDomain) {
    throw CaErrors.foreignTrustDomain(`csr SPIFFE ID \`${spiffeId.slice(0, 200)}\` is outside trust domain \`${policy.trustDomain}\``)
  }
  if (dnsNames.length > 0 || ipAddresses.length > 0) {
    if (spiffeId !== serviceSpiffeId(policy.trustDomain, 'gateway')) {
      throw CaErrors.servingNameDenied(`\`${spiffeId}\` may not carry DNS or IP SANs`)
    }
    const allowed = new Set(policy.servingNames.map((n) => (isIP(n) ? canonicalIp(n) : n.toLowerCase())))
    const denied = [...dnsNames, ...ipAddresses].find((n) => !allowed.has(n))
    if (denied !== undefined) throw CaErrors.servingNameDenied(`serving name \`${denied.slice(0, 253)}\` is not in ca.servingNames`)
  }
  // Handing the generator a CryptoKey (not the parsed SPKI) makes signing about three times faster.
  return { spiffeId, publicKey: await csr.publicKey.export(), dnsNames, ipAddresses }
}
