// TOTP (RFC 6238: SHA-1, 6 digits, 30 s) via otplib, with replay protection:
// a code is accepted only for a time step after the last one accepted.
import { generateSecret, generateURI, verify } from 'otplib'
import QRCode from 'qrcode'

export type TotpCheck = { valid: boolean; timeStep?: number; replayed?: boolean }

export function newTotpSecret(): string {
  return generateSecret({ length: 20 })
}

export function totpUri(issuer: string, username: string, secret: string): string {
  return generateURI({ issuer, label: username, secret })
}

export async function totpQrDataUrl(uri: string): Promise<string> {
  return await QRCode.toDataURL(uri, { errorCorrectionLevel: 'M', margin: 1, width: 220 })
}

/** Verifies `code` at `nowMs`, allowing one step of drift, rejecting steps at or before `lastStep`. */
export async function checkTotp(secret: string, code: unknown, nowMs: number, lastStep: number | null): Promise<TotpCheck> {
  if (typeof code !== 'string' || !/^\d{6}$/.test(code)) return { valid: false }
  const run = async (after: number | null) => {
    try {
      return await verify({ secret, token: code, epoch: Math.floor(nowMs / 1000), epochTolerance: 30, ...(after !== null ? { afterTimeStep: after } : {}) }) as { valid: boolean; timeStep?: number }
    } catch {
      return { valid: false }
    }
  }
  const result = await run(lastStep)
  if (result.valid) return { valid: true, timeStep: result.timeStep }
  // Tell a replay apart from a wrong code (for the audit trail only; both are refused).
  if (lastStep !== null && (await run(null)).valid) return { valid: false, replayed: true }
  return { valid: false }
}
