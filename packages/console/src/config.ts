// The console's section of config.json (`components.console`).
import { Type, type Static } from '@sinclair/typebox'

export const ConsoleConfigSchema = Type.Object({
  /** A session unused this long is over (OWASP ASVS 3.3.2: idle timeout). */
  idleTimeoutSeconds: Type.Integer({ minimum: 60, maximum: 86_400, default: 900 }),
  /** A session ends this long after sign-in, however busy (absolute timeout). */
  sessionMaxSeconds: Type.Integer({ minimum: 300, maximum: 86_400, default: 28_800 }),
  /** A destructive action waits at most this long for its re-authentication. */
  stepUpMaxAgeSeconds: Type.Integer({ minimum: 30, maximum: 900, default: 300 }),
  /** Open sessions and sign-ins in flight are capped (memory is bounded). */
  maxSessions: Type.Integer({ minimum: 1, maximum: 100_000, default: 1000 }),
}, { additionalProperties: false })

export type ConsoleConfig = Static<typeof ConsoleConfigSchema>
