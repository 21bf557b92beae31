// The users service's section of config.json (`components.users`).
import { Type, type Static } from '@sinclair/typebox'

export const UsersConfigSchema = Type.Object({
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  enabled: Type.Optional(Type.Boolean()),
  database: Type.Optional(Type.String({ minLength: 1 })),
  /** Transit key for the email blind index (the vault lets `users` use `users-*`). */
  emailIndexKey: Type.String({ pattern: '^users-[a-z0-9-]{1,60}$', default: 'users-email-index' }),
  defaultPageSize: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  /** Ask identity to revoke the user's tokens on erasure (needs the policy in the README). */
  revokeTokensOnErase: Type.Boolean({ default: true }),
}, { additionalProperties: false })

export type UsersConfig = Static<typeof UsersConfigSchema>
