// A stand-in for a cluster's service-account issuer: an HTTPS server on
// loopback serving OIDC discovery and a JWKS, and a signer of tokens shaped
// like the kubelet's projected service-account tokens (Kubernetes 1.30+:
// `kubernetes.io.{namespace,pod,serviceaccount,node}`, `sub`
// `system:serviceaccount:<ns>:<sa>`, an audience list, one-hour expiry).
import { createServer, type Server } from 'node:https'
import { randomUUID } from 'node:crypto'
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { createTestCa } from './test-ca.ts'

export type PodToken = {
  namespace?: string
  serviceAccount?: string
  pod?: { name: string; uid: string } | null
  audience?: string[]
  issuer?: string
  /** Seconds from now. */
  expiresIn?: number
  /** Sign with a key the issuer does not publish. */
  foreignKey?: boolean
  sub?: string
}

export type StandInIssuer = {
  issuer: string
  /** PEM that verifies the issuer's TLS certificate (write it to a file for `caFile`). */
  caPem: string
  token(spec?: PodToken): Promise<string>
  /** What discovery says `issuer` is (default the real one). */
  advertise(issuer: string | undefined): void
  requests: string[]
  close(): Promise<void>
}

export async function startStandInIssuer(): Promise<StandInIssuer> {
  const tls = await createTestCa({ commonName: 'Stand-in Cluster CA' })
  const serving = await tls.issue('kube-apiserver', { ipAddresses: ['127.0.0.1'] })
  const kid = randomUUID()
  const keys = await generateKeyPair('RS256', { extractable: true })
  const foreign = await generateKeyPair('RS256')
  const jwk: JWK = { ...(await exportJWK(keys.publicKey)), kid, alg: 'RS256', use: 'sig' }
  let advertised: string | undefined
  const requests: string[] = []
  let issuer = ''
  const server: Server = createServer({ key: serving.keyPem, cert: `${serving.certPem.trim()}\n${serving.chainPem.trim()}\n` }, (req, res) => {
    requests.push(req.url ?? '')
    const send = (body: unknown) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)) }
    if (req.url === '/.well-known/openid-configuration') {
      return send({ issuer: advertised ?? issuer, jwks_uri: `${issuer}/openid/v1/jwks`, response_types_supported: ['id_token'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'] })
    }
    if (req.url === '/openid/v1/jwks') return send({ keys: [jwk] })
    res.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  issuer = `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  return {
    issuer, caPem: tls.rootPem, requests,
    advertise(value) { advertised = value },
    async token(spec = {}) {
      const namespace = spec.namespace ?? 'bulwark'
      const serviceAccount = spec.serviceAccount ?? 'orders'
      const now = Math.floor(Date.now() / 1000)
      const pod = spec.pod === null ? undefined : spec.pod ?? { name: `${serviceAccount}-7c9d-x2k4p`, uid: randomUUID() }
      return await new SignJWT({
        'kubernetes.io': {
          namespace,
          node: { name: 'node-1', uid: randomUUID() },
          ...(pod ? { pod } : {}),
          serviceaccount: { name: serviceAccount, uid: randomUUID() },
        },
      })
        .setProtectedHeader({ alg: 'RS256', kid: spec.foreignKey ? randomUUID() : kid })
        .setIssuer(spec.issuer ?? issuer)
        .setAudience(spec.audience ?? ['bulwark-ca'])
        .setSubject(spec.sub ?? `system:serviceaccount:${namespace}:${serviceAccount}`)
        .setIssuedAt(now - 10).setNotBefore(now - 10)
        .setExpirationTime(now + (spec.expiresIn ?? 3600))
        .setJti(randomUUID())
        .sign(spec.foreignKey ? foreign.privateKey : keys.privateKey)
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
