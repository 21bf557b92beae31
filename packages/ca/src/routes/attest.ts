// First SVID by attestation instead of a join token: a Kubernetes pod sends its
// projected service-account token (audience `bulwark-ca`) and a CSR; the CA
// verifies the token against the cluster's issuer (k8s-attestor.ts), maps its
// namespace + service account to one component, and issues exactly one SVID for
// that component's SPIFFE ID. Like join, the route needs no client
// certificate; every refusal is audited, rate-limited per address and issues
// nothing. A restarted pod attests again with the token the kubelet keeps fresh:
// nothing is asked of an operator.
import type { FastifyInstance } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { CoreErrors, isBulwarkError, serviceSpiffeId, type BulwarkError } from '@bulwark/core'
import { checkCsr } from '../csr-policy.ts'
import { createJoinLimiter } from '../join-limiter.ts'
import { CaErrors } from '../errors.ts'
import { auditFor, svidAnswer, type RouteContext } from '../context.ts'
import type { AttestedPod, KubernetesAttestor } from '../k8s-attestor.ts'

export const ATTEST_ROUTE = '/v1/svid/attest/k8s'
const METHOD = 'k8s_psat'

const AttestBody = Type.Object({
  token: Type.String({ minLength: 1, maxLength: 16384 }),
  csr: Type.String({ minLength: 1, maxLength: 16384 }),
}, { additionalProperties: false })

function podDetails(pod: AttestedPod | undefined): Record<string, string> {
  return pod ? { namespace: pod.namespace, serviceAccount: pod.serviceAccount, pod: pod.podName, podUid: pod.podUid } : {}
}

export function registerAttestRoutes(app: FastifyInstance, ctx: RouteContext, attestor: KubernetesAttestor | undefined): void {
  const policy = { trustDomain: ctx.config.trustDomain, servingNames: ctx.config.servingNames }
  const issued = ctx.metrics?.counter('bulwark_ca_certs_issued_total', 'Certificates issued by the CA', ['via'])
  const rejected = ctx.metrics?.counter('bulwark_ca_requests_rejected_total', 'CA requests refused', ['route', 'code'])
  const limiter = createJoinLimiter({ maxFailuresPerMinute: ctx.config.joinFailuresPerMinute, clock: ctx.clock })

  app.post<{ Body: Static<typeof AttestBody> }>(ATTEST_ROUTE, { schema: { body: AttestBody } }, async (request) => {
    let pod: AttestedPod | undefined
    const refuse = (error: BulwarkError, resource?: string): never => {
      // An unreachable issuer is not the caller's fault: it does not count against its address.
      if (error.status !== 503) limiter.recordFailure(request.ip)
      rejected?.inc({ route: 'attest', code: error.code })
      auditFor(ctx, request, {
        type: 'attestation.rejected', action: 'svid.attest', outcome: error.status === 503 ? 'error' : 'denied', reason: error.code,
        ...(resource ? { resource } : {}), details: { method: METHOD, detail: error.message.slice(0, 300), ...podDetails(pod) },
      })
      request.log.warn({ code: error.code, ...podDetails(pod) }, 'ca: attestation refused')
      throw error
    }
    if (!attestor) return refuse(CaErrors.attestationDisabled('kubernetes attestation is not configured at this CA'))
    const wait = limiter.retryAfter(request.ip)
    if (wait > 0) {
      const error = CoreErrors.rateLimited(`too many refused attestations from this address; retry in ${wait} s`, { headers: { 'retry-after': String(wait) } })
      rejected?.inc({ route: 'attest', code: error.code })
      auditFor(ctx, request, { type: 'attestation.rejected', action: 'svid.attest', outcome: 'denied', reason: error.code, details: { method: METHOD } })
      throw error
    }
    try {
      pod = await attestor.attest(request.body.token)
    } catch (error) {
      return refuse(isBulwarkError(error) ? error : CaErrors.attestationUnavailable())
    }
    const spiffeId = serviceSpiffeId(ctx.config.trustDomain, pod.component)
    let grant
    try {
      grant = await checkCsr(request.body.csr, policy)
    } catch (error) {
      return refuse(isBulwarkError(error) ? error : CaErrors.csrInvalid(), spiffeId)
    }
    if (grant.spiffeId !== spiffeId) {
      return refuse(CaErrors.idMismatch(`csr asks for \`${grant.spiffeId}\` but service account \`${pod.serviceAccount}\` attests \`${spiffeId}\``), spiffeId)
    }
    if (await ctx.authority.isQuarantinedNow(spiffeId)) return refuse(CaErrors.quarantined(`\`${spiffeId}\` is quarantined`), spiffeId)
    const cert = await ctx.authority.issueFromCsr(grant, METHOD)
    issued?.inc({ via: METHOD })
    auditFor(ctx, request, {
      type: 'cert.issued', action: 'svid.attest', outcome: 'success', resource: cert.spiffeId,
      actor: { kind: 'service', spiffeId: cert.spiffeId, ip: request.ip },
      details: { serial: cert.serial, notAfter: new Date(cert.notAfter).toISOString(), via: METHOD, attestation: METHOD, ...podDetails(pod) },
    })
    return svidAnswer(cert)
  })
}
