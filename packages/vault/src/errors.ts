// The vault's error catalogue. Denials and absences share one shape
// (`BW_VAULT_NOT_FOUND`, 404) so a caller cannot tell "forbidden" from "absent".
import { defineError } from '@bulwark/core'

export const VaultErrors = {
  notFound: defineError('BW_VAULT_NOT_FOUND', 404, 'not found'),
  versionDeleted: defineError('BW_VAULT_VERSION_DELETED', 404, 'version is deleted'),
  versionDestroyed: defineError('BW_VAULT_VERSION_DESTROYED', 410, 'version is destroyed'),
  casMismatch: defineError('BW_VAULT_CAS_MISMATCH', 409, 'check-and-set version does not match'),
  casRequired: defineError('BW_VAULT_CAS_REQUIRED', 428, 'check-and-set is required for this path'),
  pathInvalid: defineError('BW_VAULT_PATH_INVALID', 400, 'invalid path'),
  valueTooLarge: defineError('BW_VAULT_VALUE_TOO_LARGE', 413, 'value too large'),
  badRequest: defineError('BW_VAULT_BAD_REQUEST', 400, 'bad request'),
  keyExists: defineError('BW_VAULT_KEY_EXISTS', 409, 'transit key exists'),
  ciphertextInvalid: defineError('BW_VAULT_CIPHERTEXT_INVALID', 400, 'ciphertext is malformed'),
  keyVersion: defineError('BW_VAULT_KEY_VERSION', 400, 'key version cannot be used'),
  decryptFailed: defineError('BW_VAULT_DECRYPT_FAILED', 400, 'ciphertext failed authentication'),
  /** The store holds a row that does not authenticate: tampering or a moved row. Not exposed. */
  integrity: defineError('BW_VAULT_INTEGRITY', 500, 'stored value failed authentication'),
  masterKey: defineError('BW_VAULT_MASTER_KEY', 500, 'master key unavailable or wrong'),
  unauthenticated: defineError('BW_UNAUTHENTICATED', 401, 'a client certificate with a SPIFFE ID is required'),
} as const
