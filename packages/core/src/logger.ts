// Operational log: pino JSON with redaction of anything that may carry a
// credential. The audit trail is a separate channel (see audit-event.ts).
import { pino, type Logger, type DestinationStream } from 'pino'

export type { Logger } from 'pino'

/** Paths pino blanks out wherever they appear (request headers, bodies, errors). */
export const REDACT_PATHS = [
  'authorization', '*.authorization', '*.*.authorization', 'headers.authorization', 'req.headers.authorization',
  'cookie', '*.cookie', 'req.headers.cookie', 'res.headers["set-cookie"]', '*.headers["set-cookie"]',
  'password', '*.password', '*.*.password', 'secret', '*.secret', '*.*.secret', 'clientSecret', '*.clientSecret',
  'client_secret', '*.client_secret', 'token', '*.token', '*.*.token', 'accessToken', '*.accessToken',
  'access_token', '*.access_token', 'refresh_token', '*.refresh_token', 'refreshToken', '*.refreshToken',
  'id_token', '*.id_token', 'joinToken', '*.joinToken', 'subject_token', '*.subject_token', 'otp', '*.otp',
  'totpSecret', '*.totpSecret', 'privateKey', '*.privateKey', 'key', '*.keyPem', 'keyPem', 'value', '*.value',
  'plaintext', '*.plaintext', 'cardNumber', '*.cardNumber', 'cvc', '*.cvc', 'code', '*.code_verifier',
  'req.headers["x-bulwark-token"]', 'req.headers["proxy-authorization"]', 'redisUrl', '*.redisUrl', '*.*.redisUrl',
  // The bootstrap's storage carries the database URL with its password.
  'storage', '*.storage', 'databaseUrl', '*.databaseUrl',
]

export type LoggerOptions = {
  name: string
  level?: string
  destination?: DestinationStream
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? process.env.BULWARK_LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { component: options.name, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  )
}

/** A logger that drops everything, for tests that do not look at logs. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' })
}
