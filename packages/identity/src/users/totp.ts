// TOTP (RFC 6238: SHA-1, 6 digits, 30 s) via otplib, with replay protection:
// a code is accepted only for a time step after the last one accepted.
import { generateSecret, generateURI, verify } from 'otplib'
import QRCode from 'qrcode'

export type TotpCheck = { valid: boolean; timeStep?: number }

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
  try {
    const result = await verify({
      secret, token: code, epoch: Math.floor(nowMs / 1000), epochTolerance: 30,
      ...(lastStep !== null ? { afterTimeStep: lastStep } : {}),
    }) as { valid: boolean; timeStep?: number }
    return result.valid ? { valid: true, timeStep: result.timeStep } : { valid: false }
  } catch {
    return { valid: false }
  }
}
