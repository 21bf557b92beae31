// Password hashing: argon2id with OWASP's parameters (m=19456 KiB, t=2, p=1)
// by default. Unknown users still cost one verification so timing does not
// reveal which usernames exist.
import { hash, verify, type Algorithm } from '@node-rs/argon2'

export type Argon2Params = { memoryKiB: number; iterations: number; parallelism: number }

export type PasswordHasher = {
  hash(password: string): Promise<string>
  verify(stored: string | undefined, password: string): Promise<boolean>
}

const ARGON2ID = 2 as Algorithm

export function createPasswordHasher(params: Argon2Params): PasswordHasher {
  const options = { algorithm: ARGON2ID, memoryCost: params.memoryKiB, timeCost: params.iterations, parallelism: params.parallelism }
  let dummy: Promise<string> | undefined
  return {
    hash: (password) => hash(password, options),
    async verify(stored, password) {
      if (typeof password !== 'string' || password.length === 0 || password.length > 1024) return false
      if (!stored) {
        dummy ??= hash('bulwark-dummy-password', options)
        await verify(await dummy, password).catch(() => false)
        return false
      }
      try {
        return await verify(stored, password)
      } catch {
        return false
      }
    },
  }
}

/** A minimal policy: long enough, not absurdly long. */
export function isAcceptablePassword(password: unknown): password is string {
  return typeof password === 'string' && password.length >= 12 && password.length <= 256
}
