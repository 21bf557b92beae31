// The Kubernetes objects of one Bulwark platform, rendered from the platform
// config and the segmentation graph (segmentation.ts). Plain objects; the
// kustomize layout and YAML are kustomize.ts's job. Every choice a cluster
// admission check would question is made here once:
//   - restricted Pod Security Standard on every pod (non-root numeric user,
//     read-only root filesystem, no privilege escalation, no capabilities,
//     RuntimeDefault seccomp), the namespace enforcing it;
//   - no Kubernetes API token in any pod (automountServiceAccountToken:
//     false); the CA attestation token is a projected volume with audience
//     `bulwark-ca`, short-lived and rotated by the kubelet;
//   - secrets only as files from Secrets (never env), copied by `bulwark run`
//     into a memory-backed home with mode 0600;
//   - probes on a plain-HTTP port that serves only /healthz and /readyz (the
//     component port requires a client certificate, which kubelet probes
//     cannot present; no NetworkPolicy admits pods to the probe port, and
//     the kubelet on the node always reaches it);
//   - NetworkPolicies: default deny both ways, then exactly the graph's edges.
import { serviceSpiffeId, type PlatformConfig } from '@bulwark/core/base'
import type { Edge } from './segmentation.ts'

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [key: string]: unknown }

export type RenderOptions = {
  config: PlatformConfig
  components: readonly string[]
  edges: readonly Edge[]
  namespace: string
  image: string
  /** The cluster's service-account issuer (`iss` of its tokens). */
  issuer: string
  /** Where the CA reads the issuer's keys from inside the cluster. */
  jwksUri: string
  /** The public host name of the gateway (the OIDC issuer is `https://<publicHost>`). */
  publicHost: string
  databases?: { postgresUrl: string; redisUrl: string }
}

export const HOME = '/var/lib/bulwark'
export const HEALTH_PORT = 9090
export const RUN_AS = 65532
const TOKEN_DIR = '/var/run/secrets/bulwark'
const KUBE_API_DIR = '/var/run/secrets/kubernetes'
const BOOTSTRAP_DIR = '/etc/bulwark/bootstrap'
const DB_SECRET_DIR = '/etc/bulwark/db'
/** Components that hold the master key (identity's sealed PII and keys, the vault's key ring). */
const MASTER_KEY_HOLDERS = new Set(['identity', 'vault'])
/** Stateless on every engine: no volume, as many replicas as wanted. */
const STATELESS = new Set(['gateway'])

type Resources = { requests: { cpu: string; memory: string }; limits: { cpu: string; memory: string } }
const SMALL: Resources = { requests: { cpu: '50m', memory: '96Mi' }, limits: { cpu: '500m', memory: '256Mi' } }
/** identity hashes passwords with argon2id (19 MiB each) and the gateway carries the edge. */
const LARGE: Resources = { requests: { cpu: '200m', memory: '192Mi' }, limits: { cpu: '1', memory: '512Mi' } }
const RESOURCES: Record<string, Resources> = { identity: LARGE, gateway: LARGE, audit: { ...SMALL, limits: { cpu: '1', memory: '384Mi' } } }

export const labelsOf = (component: string) => ({ 'app.kubernetes.io/name': component, 'app.kubernetes.io/part-of': 'bulwark' })
export const serviceAccountOf = (component: string) => `bulwark-${component}`
const portOf = (o: RenderOptions, component: string) => o.config.components[component]!.port
/** The component's gRPC listener (`grpcPort`), when it serves one: same mTLS, its own port. */
const grpcPortOf = (o: RenderOptions, component: string) => (o.config.components[component] as { grpcPort?: number }).grpcPort
/** Every port a component listens on for its peers (mTLS, and gRPC when it serves it). */
const peerPortsOf = (o: RenderOptions, component: string) => {
  const grpc = grpcPortOf(o, component)
  return [portOf(o, component), ...(grpc === undefined ? [] : [grpc])]
}
const hostOf = (o: RenderOptions, component: string) => `${component}.${o.namespace}.svc`
const urlOf = (o: RenderOptions, component: string) => `https://${hostOf(o, component)}:${portOf(o, component)}`

function meta(o: RenderOptions, name: string, component?: string) {
  return { name, namespace: o.namespace, labels: component ? labelsOf(component) : { 'app.kubernetes.io/part-of': 'bulwark' } }
}

export function namespaceObject(o: RenderOptions): K8sObject {
  return {
    apiVersion: 'v1', kind: 'Namespace',
    metadata: {
      name: o.namespace,
      labels: {
        'app.kubernetes.io/part-of': 'bulwark',
        'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest',
        'pod-security.kubernetes.io/audit': 'restricted', 'pod-security.kubernetes.io/warn': 'restricted',
      },
    },
  }
}

/** A file `bulwark run` copies into the home before the component starts. */
type Install = { from: string; to: string; secret?: true }

/** The bootstrap `bulwark run` reads: what `bulwark up` would send over IPC, with no secret in it. */
export function bootstrapOf(o: RenderOptions, component: string, withDatabases: boolean): Record<string, unknown> {
  const { port: _port, enabled: _enabled, ...section } = o.config.components[component]!
  const peers: Record<string, { url: string; spiffeId: string; grpcUrl?: string }> = {}
  for (const other of o.components) {
    if (other === component) continue
    const grpc = grpcPortOf(o, other)
    peers[other] = { url: urlOf(o, other), spiffeId: serviceSpiffeId(o.config.trustDomain, other), ...(grpc === undefined ? {} : { grpcUrl: `https://${hostOf(o, other)}:${grpc}` }) }
  }
  const install: Install[] = [{ from: `${BOOTSTRAP_DIR}/config.json`, to: 'config.json' }]
  if (component === 'ca') {
    for (const file of ['root.crt', 'intermediate.crt']) install.push({ from: `/etc/bulwark/ca/${file}`, to: `ca/${file}` })
    install.push({ from: '/etc/bulwark/ca/intermediate.key', to: 'ca/intermediate.key', secret: true })
  } else {
    install.push({ from: '/etc/bulwark/trust/root.crt', to: 'ca/root.crt' })
  }
  if (MASTER_KEY_HOLDERS.has(component)) install.push({ from: '/etc/bulwark/master-key/master.key', to: 'keys/master.key', secret: true })
  const config: Record<string, unknown> = { ...section }
  if (component === 'ca') {
    config.attestation = {
      kubernetes: {
        issuer: o.issuer, audiences: ['bulwark-ca'], namespace: o.namespace, jwksUri: o.jwksUri,
        caFile: `${KUBE_API_DIR}/ca.crt`, bearerTokenFile: `${KUBE_API_DIR}/token`,
        serviceAccounts: Object.fromEntries(o.components.filter((c) => c !== 'ca').map((c) => [serviceAccountOf(c), c])),
      },
    }
  }
  return {
    type: 'bootstrap', component, home: HOME, trustDomain: o.config.trustDomain,
    spiffeId: serviceSpiffeId(o.config.trustDomain, component),
    listen: { host: '0.0.0.0', port: portOf(o, component) },
    caUrl: urlOf(o, 'ca'), publicUrl: `https://${o.publicHost}`, svidTtlSeconds: o.config.svidTtlSeconds,
    peers, config, demo: true,
    ...(component === 'ca' ? {} : { attestation: { kubernetes: { tokenFile: `${TOKEN_DIR}/token` } } }),
    healthListen: { host: '0.0.0.0', port: HEALTH_PORT },
    install,
    ...(withDatabases && o.databases
      ? {
        storage: { postgres: { url: o.databases.postgresUrl, passwordFile: `${DB_SECRET_DIR}/postgres-password` } },
        redis: { url: o.databases.redisUrl, passwordFile: `${DB_SECRET_DIR}/redis-password` },
      }
      : {}),
  }
}

export function bootstrapConfigMap(o: RenderOptions, withDatabases: boolean): K8sObject {
  const data: Record<string, string> = {
    // The frame the gateway reads for its routes and peers; ports as in the bootstrap files.
    'config.json': JSON.stringify({ ...o.config, publicHost: o.publicHost, internalHost: '0.0.0.0' }, null, 2) + '\n',
  }
  for (const component of o.components) data[`${component}.json`] = JSON.stringify(bootstrapOf(o, component, withDatabases), null, 2) + '\n'
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(o, 'bulwark-bootstrap'), data }
}

export function serviceAccount(o: RenderOptions, component: string): K8sObject {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(o, serviceAccountOf(component), component), automountServiceAccountToken: false }
}

export function service(o: RenderOptions, component: string): K8sObject {
  const port = portOf(o, component)
  return {
    apiVersion: 'v1', kind: 'Service', metadata: meta(o, component, component),
    spec: {
      // The gateway is the only public entry; put a LoadBalancer or Ingress (TLS passthrough) in front of it.
      type: 'ClusterIP', selector: labelsOf(component),
      ports: [
        { name: component === 'gateway' ? 'https' : 'mtls', port: component === 'gateway' ? 443 : port, targetPort: port, protocol: 'TCP' },
        ...(grpcPortOf(o, component) === undefined ? [] : [{ name: 'grpc', port: grpcPortOf(o, component)!, targetPort: grpcPortOf(o, component)!, protocol: 'TCP' }]),
      ],
    },
  }
}

export function disruptionBudget(o: RenderOptions, component: string): K8sObject {
  return {
    apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: meta(o, component, component),
    spec: { maxUnavailable: 1, selector: { matchLabels: labelsOf(component) } },
  }
}

export function dataClaim(o: RenderOptions, component: string): K8sObject {
  return {
    apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: meta(o, `${component}-data`, component),
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: component === 'audit' ? '10Gi' : '1Gi' } } },
  }
}

/**
 * Whether the component keeps state on a volume (its SQLite file). Every
 * component but the gateway does, in the base and (for now) in the overlay
 * too: a component runs replicas once its stores run on PostgreSQL (see
 * docs/postgres.md), and then its volume goes.
 */
export function hasVolume(component: string): boolean {
  return !STATELESS.has(component)
}

/** One writer per SQLite file: one replica, except the stateless gateway. */
export function replicasOf(component: string): number {
  return hasVolume(component) ? 1 : 2
}

function volumesOf(o: RenderOptions, component: string, withDatabases: boolean) {
  const volumes: Array<Record<string, unknown>> = [
    // The home: keys copied from Secrets land here, so it lives in memory only.
    { name: 'home', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
    hasVolume(component)
      ? { name: 'data', persistentVolumeClaim: { claimName: `${component}-data` } }
      : { name: 'data', emptyDir: { sizeLimit: '256Mi' } },
    { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
    { name: 'bootstrap', configMap: { name: 'bulwark-bootstrap', defaultMode: 0o444, items: [{ key: `${component}.json`, path: `${component}.json` }, { key: 'config.json', path: 'config.json' }] } },
  ]
  if (component === 'ca') {
    volumes.push({ name: 'ca-keys', secret: { secretName: 'bulwark-ca-keys', defaultMode: 0o440, items: ['root.crt', 'intermediate.crt', 'intermediate.key'].map((key) => ({ key, path: key })) } })
    // The CA alone talks to the API server: to read the service-account issuer's keys.
    volumes.push({
      name: 'kube-api',
      projected: { defaultMode: 0o440, sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3600 } }, { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }] },
    })
  } else {
    volumes.push({ name: 'trust', configMap: { name: 'bulwark-trust', defaultMode: 0o444, items: [{ key: 'root.crt', path: 'root.crt' }] } })
    volumes.push({ name: 'attestation', projected: { defaultMode: 0o440, sources: [{ serviceAccountToken: { audience: 'bulwark-ca', path: 'token', expirationSeconds: 600 } }] } })
  }
  if (MASTER_KEY_HOLDERS.has(component)) volumes.push({ name: 'master-key', secret: { secretName: 'bulwark-master-key', defaultMode: 0o440, items: [{ key: 'master.key', path: 'master.key' }] } })
  if (withDatabases) {
    volumes.push({ name: 'db', secret: { secretName: 'bulwark-databases', defaultMode: 0o440, items: [{ key: 'postgres-password', path: 'postgres-password' }, { key: 'redis-password', path: 'redis-password' }] } })
  }
  return volumes
}

function mountsOf(component: string, withDatabases: boolean) {
  const mounts: Array<Record<string, unknown>> = [
    { name: 'home', mountPath: HOME },
    { name: 'data', mountPath: `${HOME}/data` },
    { name: 'tmp', mountPath: '/tmp' },
    { name: 'bootstrap', mountPath: BOOTSTRAP_DIR, readOnly: true },
  ]
  if (component === 'ca') {
    mounts.push({ name: 'ca-keys', mountPath: '/etc/bulwark/ca', readOnly: true })
    mounts.push({ name: 'kube-api', mountPath: KUBE_API_DIR, readOnly: true })
  } else {
    mounts.push({ name: 'trust', mountPath: '/etc/bulwark/trust', readOnly: true })
    mounts.push({ name: 'attestation', mountPath: TOKEN_DIR, readOnly: true })
  }
  if (MASTER_KEY_HOLDERS.has(component)) mounts.push({ name: 'master-key', mountPath: '/etc/bulwark/master-key', readOnly: true })
  if (withDatabases) mounts.push({ name: 'db', mountPath: DB_SECRET_DIR, readOnly: true })
  return mounts
}

export function deployment(o: RenderOptions, component: string, withDatabases: boolean): K8sObject {
  const port = portOf(o, component)
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({ httpGet: { path, port: 'health', scheme: 'HTTP' }, periodSeconds, timeoutSeconds: 2, failureThreshold })
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta(o, component, component),
    spec: {
      replicas: replicasOf(component),
      selector: { matchLabels: labelsOf(component) },
      // A ReadWriteOnce volume cannot be held by the old and the new pod at once.
      strategy: hasVolume(component) ? { type: 'Recreate' } : { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: labelsOf(component) },
        spec: {
          serviceAccountName: serviceAccountOf(component),
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true, runAsUser: RUN_AS, runAsGroup: RUN_AS, fsGroup: RUN_AS,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [{
            name: component, image: o.image, imagePullPolicy: 'IfNotPresent',
            args: [component],
            ports: [
              { name: 'mtls', containerPort: port, protocol: 'TCP' },
              ...(grpcPortOf(o, component) === undefined ? [] : [{ name: 'grpc', containerPort: grpcPortOf(o, component)!, protocol: 'TCP' }]),
              { name: 'health', containerPort: HEALTH_PORT, protocol: 'TCP' },
            ],
            env: [{ name: 'BULWARK_HOME', value: HOME }],
            resources: RESOURCES[component] ?? SMALL,
            startupProbe: probe('/healthz', 2, 60),
            livenessProbe: probe('/healthz', 10, 3),
            readinessProbe: probe('/readyz', 5, 2),
            securityContext: {
              runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false,
              capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
            },
            volumeMounts: mountsOf(component, withDatabases),
          }],
          volumes: volumesOf(o, component, withDatabases),
        },
      },
    },
  }
}

const DNS_RULE = {
  to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
  ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }],
}

export function defaultDeny(o: RenderOptions): K8sObject {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta(o, 'default-deny'), spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] } }
}

/** Ingress of one component: from each caller the graph allows, on its mTLS (and gRPC) ports only (the gateway: from anywhere). */
export function ingressPolicy(o: RenderOptions, component: string): K8sObject {
  const callers = o.edges.filter((e) => e.to === component).map((e) => e.from)
  const ports = peerPortsOf(o, component).map((port) => ({ protocol: 'TCP', port }))
  const ingress = component === 'gateway'
    ? [{ ports }]
    : callers.length > 0 ? [{ from: callers.map((c) => ({ podSelector: { matchLabels: labelsOf(c) } })), ports }] : []
  return {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta(o, `${component}-ingress`, component),
    spec: { podSelector: { matchLabels: labelsOf(component) }, policyTypes: ['Ingress'], ingress },
  }
}

/** Egress of one component: DNS, each callee the graph allows on its port, and (CA only) the API server. */
export function egressPolicy(o: RenderOptions, component: string): K8sObject {
  const egress: unknown[] = [DNS_RULE]
  for (const callee of o.edges.filter((e) => e.from === component).map((e) => e.to)) {
    egress.push({ to: [{ podSelector: { matchLabels: labelsOf(callee) } }], ports: peerPortsOf(o, callee).map((port) => ({ protocol: 'TCP', port })) })
  }
  // The API server is not a pod: the CA reads the issuer's keys at its address, on the usual ports.
  if (component === 'ca') egress.push({ ports: [{ protocol: 'TCP', port: 443 }, { protocol: 'TCP', port: 6443 }] })
  return {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta(o, `${component}-egress`, component),
    spec: { podSelector: { matchLabels: labelsOf(component) }, policyTypes: ['Egress'], egress },
  }
}

/** Overlay: every component may reach PostgreSQL and Redis (wherever they run) on their ports. */
export function databaseEgress(o: RenderOptions): K8sObject {
  const port = (url: string, fallback: number) => Number(new URL(url).port || fallback)
  return {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta(o, 'databases-egress'),
    spec: {
      podSelector: { matchLabels: { 'app.kubernetes.io/part-of': 'bulwark' } }, policyTypes: ['Egress'],
      egress: [{ ports: [{ protocol: 'TCP', port: port(o.databases!.postgresUrl, 5432) }, { protocol: 'TCP', port: port(o.databases!.redisUrl, 6379) }] }],
    },
  }
}
