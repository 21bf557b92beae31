// Error catalogue of the CA. Codes are stable: tests, the sdk and operators match on them.
import { defineError } from '@bulwark/core'

export const CaErrors = {
  joinTokenInvalid: defineError('BW_CA_JOIN_TOKEN_INVALID', 401, 'join token is not valid'),
  joinTokenExpired: defineError('BW_CA_JOIN_TOKEN_EXPIRED', 401, 'join token has expired'),
  joinTokenReused: defineError('BW_CA_JOIN_TOKEN_REUSED', 401, 'join token was already used'),
  csrInvalid: defineError('BW_CA_CSR_INVALID', 400, 'csr is not a PEM PKCS#10 certification request'),
  csrSignature: defineError('BW_CA_CSR_SIGNATURE', 400, 'csr signature does not verify'),
  csrKey: defineError('BW_CA_CSR_KEY', 400, 'csr key type is not allowed'),
  csrSan: defineError('BW_CA_CSR_SAN', 400, 'csr must carry exactly one SPIFFE ID URI SAN'),
  foreignTrustDomain: defineError('BW_CA_CSR_FOREIGN_TRUST_DOMAIN', 400, 'csr SPIFFE ID is outside the trust domain'),
  idMismatch: defineError('BW_CA_CSR_ID_MISMATCH', 403, 'csr SPIFFE ID does not match the caller'),
  servingNameDenied: defineError('BW_CA_SERVING_NAME_DENIED', 403, 'dns or ip SANs are not allowed for this identity'),
  quarantined: defineError('BW_CA_QUARANTINED', 403, 'identity is quarantined'),
  peerRejected: defineError('BW_CA_PEER_REJECTED', 401, 'a valid client certificate from this trust domain is required'),
  spiffeIdInvalid: defineError('BW_CA_SPIFFE_ID_INVALID', 400, 'not a service SPIFFE ID of this trust domain'),
  attestationDisabled: defineError('BW_CA_ATTESTATION_DISABLED', 404, 'this attestation method is not configured'),
  attestationInvalid: defineError('BW_CA_ATTESTATION_INVALID', 401, 'attestation token is not valid'),
  attestationDenied: defineError('BW_CA_ATTESTATION_DENIED', 403, 'attested workload is not allowed an identity'),
  attestationUnavailable: defineError('BW_CA_ATTESTATION_UNAVAILABLE', 503, 'the attestation issuer cannot be reached'),
  certNotFound: defineError('BW_CA_CERT_NOT_FOUND', 404, 'no certificate with that serial'),
} as const
