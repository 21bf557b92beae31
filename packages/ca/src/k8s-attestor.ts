// Kubernetes projected service-account token attestation, after SPIRE's
// `k8s_psat` node attestor: the token is a JWT signed by the cluster's
// service-account issuer. We verify it with jose against the issuer's JWKS
// (found by OIDC discovery), then check what the kubelet binds into it:
//   iss    exactly the configured issuer (discovery must agree)
//   aud    one of the configured audiences (`bulwark-ca`): a token projected
//          for another audience (the API server's own) is refused
//   exp    present and not passed; nbf/iat sane (clock tolerance configured)
//   kubernetes.io.namespace / serviceaccount.name / pod.{name,uid}
//          present (a bound, projected token; legacy secret tokens have no
//          pod and no exp), consistent with `sub`, the namespace the one
//          configured, the service account one mapped to a component.
// The mapping namespace + service account → `svc/<component>` is the CA's
// config, never the caller's say.
import { readFileSync } from 'node:fs'
import { errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose'
import { Agent, request, type BulwarkError, type Clock, type Logger } from '@bulwark/core'
import { createKeySet, type KeySet } from '@bulwark/sdk/service'
import type { KubernetesAttestationConfig } from './config.ts'
import { CaErrors } from './errors.ts'

/** What a verified token says about the pod. */
export type AttestedPod = {
  component: string
  namespace: string
  serviceAccount: string
  podName: string
  podUid: string
}

export type KubernetesAttestor = {
  /** Verifies `token`; throws a BulwarkError (401 invalid, 403 denied, 503 issuer unreachable). */
  attest(token: string): Promise<AttestedPod>
  close(): Promise<void>
}

/** Signature algorithms the Kubernetes API server signs with (RSA or EC keys); never HMAC or `none`. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512']
const FETCH_TIMEOUT_MS = 5000

type KubernetesClaims = {
  namespace?: unknown
  serviceaccount?: { name?: unknown; uid?: unknown }
  pod?: { name?: unknown; uid?: unknown }
}

const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 253

function podClaims(payload: JWTPayload): Omit<AttestedPod, 'component'> {
  const claims = payload['kubernetes.io'] as KubernetesClaims | undefined
  if (!claims || typeof claims !== 'object') throw CaErrors.attestationInvalid('token carries no `kubernetes.io` claims')
  const { namespace } = claims
  const serviceAccount = claims.serviceaccount?.name
  const podName = claims.pod?.name
  const podUid = claims.pod?.uid
  if (!isText(namespace) || !isText(serviceAccount)) throw CaErrors.attestationInvalid('token lacks the namespace or service account claim')
  // Only a token bound to a pod (projected by the kubelet) attests a workload.
  if (!isText(podName) || !isText(podUid)) throw CaErrors.attestationInvalid('token is not bound to a pod')
  if (payload.sub !== `system:serviceaccount:${namespace}:${serviceAccount}`) throw CaErrors.attestationInvalid('token subject does not match its service account claims')
  return { namespace, serviceAccount, podName, podUid }
}

/** Turns jose's verification errors into our codes; anything about reaching the issuer is a 503. */
function classify(error: unknown): BulwarkError {
  if (error instanceof joseErrors.JWTExpired) return CaErrors.attestationInvalid('token has expired')
  if (error instanceof joseErrors.JWTClaimValidationFailed) return CaErrors.attestationInvalid(`token claim \`${error.claim}\` is not acceptable`)
  if (error instanceof joseErrors.JWKSNoMatchingKey) return CaErrors.attestationInvalid('token is signed by a key the issuer does not publish')
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return CaErrors.attestationInvalid('token signature does not verify')
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return CaErrors.attestationInvalid('token algorithm is not allowed')
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) return CaErrors.attestationUnavailable('the issuer\'s key set cannot be read')
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid || error instanceof joseErrors.JOSENotSupported) {
    return CaErrors.attestationInvalid('token is not a valid signed JWT')
  }
  // The rest (KeysUnavailableError: a non-200 or malformed key set, a network error) is about reaching the issuer.
  return CaErrors.attestationUnavailable('the issuer\'s key set cannot be fetched')
}

/** GET a JSON document from the issuer (undici through core's lean entry, no fetch). */
async function getJson(url: string, dispatcher: Agent, headers: Record<string, string>): Promise<unknown> {
  const res = await request(url, { dispatcher, headers: { accept: 'application/json', ...headers }, headersTimeout: FETCH_TIMEOUT_MS, bodyTimeout: FETCH_TIMEOUT_MS })
  if (res.statusCode !== 200) {
    await res.body.dump()
    throw new Error(`${url} answered ${res.statusCode}`)
  }
  return await res.body.json()
}

export function createKubernetesAttestor(config: KubernetesAttestationConfig, deps: { clock: Clock; log: Logger }): KubernetesAttestor {
  const issuer = config.issuer
  const dispatcher = new Agent({ connect: { ...(config.caFile ? { ca: readFileSync(config.caFile, 'utf8') } : {}), rejectUnauthorized: true } })
  // Read per request: the kubelet rotates a projected token in place.
  const headers = (): Record<string, string> => config.bearerTokenFile
    ? { authorization: `Bearer ${readFileSync(config.bearerTokenFile, 'utf8').trim()}` }
    : {}
  let keySet: KeySet | undefined
  async function keys(): Promise<KeySet> {
    if (keySet) return keySet
    let jwksUri = config.jwksUri
    if (!jwksUri) {
      const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`
      let document: { issuer?: unknown; jwks_uri?: unknown }
      try {
        document = await getJson(url, dispatcher, headers()) as typeof document
      } catch {
        throw CaErrors.attestationUnavailable('the issuer\'s discovery document cannot be fetched')
      }
      // OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was fetched for.
      if (document.issuer !== issuer) throw CaErrors.attestationUnavailable('the discovery document names another issuer')
      if (typeof document.jwks_uri !== 'string' || !document.jwks_uri.startsWith('https://')) throw CaErrors.attestationUnavailable('the discovery document has no https jwks_uri')
      jwksUri = document.jwks_uri
    }
    const from = jwksUri
    // The sdk's key set: an unknown `kid` refetches at most once per interval (the issuer rotates keys by publishing first).
    keySet = createKeySet({
      clock: deps.clock, log: deps.log, refetchIntervalMs: 30_000, maxAgeMs: 300_000,
      fetchJwks: async () => await getJson(from, dispatcher, headers()) as JSONWebKeySet,
    })
    return keySet
  }

  return {
    async attest(token) {
      const jwks = await keys()
      let payload: JWTPayload
      try {
        ({ payload } = await jwtVerify(token, jwks.getKey, {
          issuer, audience: config.audiences, algorithms: ALGORITHMS, requiredClaims: ['exp', 'iat', 'sub'],
          clockTolerance: config.clockToleranceSeconds, currentDate: new Date(deps.clock.now()),
        }))
      } catch (error) {
        throw classify(error)
      }
      const pod = podClaims(payload)
      if (pod.namespace !== config.namespace) throw CaErrors.attestationDenied(`namespace \`${pod.namespace}\` may not attest`)
      const component = Object.hasOwn(config.serviceAccounts, pod.serviceAccount) ? config.serviceAccounts[pod.serviceAccount] : undefined
      if (!component) throw CaErrors.attestationDenied(`service account \`${pod.serviceAccount}\` maps to no component`)
      return { component, ...pod }
    },
    async close() {
      await dispatcher.close()
    },
  }
}
