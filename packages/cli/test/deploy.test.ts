import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { cpSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { parseAllDocuments, parse } from 'yaml'
import * as coreV1 from 'kubernetes-models/v1'
import * as appsV1 from 'kubernetes-models/apps/v1'
import * as policyV1 from 'kubernetes-models/policy/v1'
import * as networkingV1 from 'kubernetes-models/networking.k8s.io/v1'
import { COMPONENT_ORDER } from '@bulwark/core/base'
import { readPolicyPath } from '@bulwark/sdk/policy'
import { tempDir } from '@bulwark/testkit'
import { segmentationGraph } from '../src/deploy/segmentation.ts'
import { runCli } from './helpers.ts'

const ROOT = resolve(import.meta.dirname, '../../..')
const CHECKED_IN = join(ROOT, 'deploy/kubernetes')
const POLICIES = join(ROOT, 'packages/policy/policies')
const SCHEMA = readFileSync(join(ROOT, 'packages/policy/schema/bulwark.cedarschema'), 'utf8')
const dir = tempDir('bulwark-deploy-')
const rendered = join(dir.path, 'out')

type Obj = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: any; data?: Record<string, string>; [k: string]: any }

function filesUnder(root: string): string[] {
  const walk = (dir: string): string[] => readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    return statSync(path).isDirectory() ? walk(path) : [relative(root, path)]
  })
  return walk(root).sort()
}

function objectsIn(root: string, sub: string): Obj[] {
  return filesUnder(join(root, sub)).filter((f) => !f.endsWith('kustomization.yaml'))
    .flatMap((f) => parseAllDocuments(readFileSync(join(root, sub, f), 'utf8')).map((d) => d.toJS() as Obj))
}

const MODELS: Record<string, Record<string, new (data: any) => { validate(): void }>> = {
  v1: coreV1 as never, 'apps/v1': appsV1 as never, 'policy/v1': policyV1 as never, 'networking.k8s.io/v1': networkingV1 as never,
}

before(async () => {
  const res = await runCli(['--home', join(dir.path, 'no-home'), 'deploy', 'kubernetes', '--out', rendered])
  assert.equal(res.code, 0, res.stderr)
})
after(() => dir.remove())

test('the checked-in deploy/kubernetes is exactly what `bulwark deploy kubernetes` renders', () => {
  const files = filesUnder(rendered)
  assert.deepEqual(filesUnder(CHECKED_IN), files, 'same files')
  for (const file of files) assert.equal(readFileSync(join(CHECKED_IN, file), 'utf8'), readFileSync(join(rendered, file), 'utf8'), `${file} is stale: run \`npm run bulwark -- deploy kubernetes --out deploy/kubernetes --force\``)
})

test('every manifest of the base and the overlay validates against the Kubernetes OpenAPI schemas', () => {
  for (const layer of ['base', 'overlays/postgres-redis']) {
    const objects = objectsIn(CHECKED_IN, layer)
    assert.ok(objects.length > 0)
    for (const object of objects) {
      const Model = MODELS[object.apiVersion]?.[object.kind]
      assert.ok(Model, `${layer}: no schema for ${object.apiVersion} ${object.kind}`)
      assert.doesNotThrow(() => new Model(object).validate(), `${layer}: ${object.kind} ${object.metadata.name}`)
    }
    // Every file the kustomization names exists, and every file is named.
    const kustomization = parse(readFileSync(join(CHECKED_IN, layer, 'kustomization.yaml'), 'utf8')) as { resources: string[]; patches?: Array<{ path: string }> }
    const named = [...kustomization.resources.filter((r) => !r.startsWith('..')), ...(kustomization.patches ?? []).map((p) => p.path)].sort()
    assert.deepEqual(named, filesUnder(join(CHECKED_IN, layer)).filter((f) => f !== 'kustomization.yaml'))
  }
  // The schemas do catch a wrong type (the check is not vacuous).
  assert.throws(() => new appsV1.Deployment({ metadata: { name: 'x' }, spec: { replicas: 'two' } } as never).validate())
})

function deploymentsOf(layer: string): Obj[] {
  return objectsIn(CHECKED_IN, layer).filter((o) => o.kind === 'Deployment')
}

test('every pod runs under the restricted Pod Security Standard, with probes on the health port, requests and limits', () => {
  const namespace = objectsIn(CHECKED_IN, 'base').find((o) => o.kind === 'Namespace')!
  assert.equal(namespace.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted')
  for (const layer of ['base', 'overlays/postgres-redis']) {
    const deployments = deploymentsOf(layer)
    assert.deepEqual(deployments.map((d) => d.metadata.name).sort(), [...COMPONENT_ORDER].sort())
    for (const d of deployments) {
      const pod = d.spec.template.spec
      const name = `${layer} ${d.metadata.name}`
      assert.equal(pod.securityContext.runAsNonRoot, true, name)
      assert.ok(Number.isInteger(pod.securityContext.runAsUser) && pod.securityContext.runAsUser > 0, name)
      assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault', name)
      assert.equal(pod.automountServiceAccountToken, false, name)
      assert.equal(pod.serviceAccountName, `bulwark-${d.metadata.name}`, name)
      assert.equal(pod.hostNetwork ?? false, false)
      for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
        const sc = c.securityContext
        assert.equal(sc.allowPrivilegeEscalation, false, name)
        assert.equal(sc.readOnlyRootFilesystem, true, name)
        assert.deepEqual(sc.capabilities.drop, ['ALL'], name)
        assert.equal(sc.capabilities.add, undefined, name)
        assert.equal(sc.privileged, false, name)
        assert.deepEqual(c.args, [d.metadata.name], `${name}: one image, the component by argument`)
        for (const kind of ['requests', 'limits']) for (const r of ['cpu', 'memory']) assert.ok(c.resources?.[kind]?.[r], `${name}: ${kind}.${r}`)
        assert.equal(c.livenessProbe.httpGet.path, '/healthz', name)
        assert.equal(c.readinessProbe.httpGet.path, '/readyz', name)
        assert.equal(c.livenessProbe.httpGet.port, 'health')
        assert.equal(c.readinessProbe.httpGet.scheme, 'HTTP')
        assert.ok(c.ports.some((p: { name: string; containerPort: number }) => p.name === 'health' && p.containerPort === 9090))
        // Writable paths are volumes only.
        for (const m of c.volumeMounts.filter((m: { readOnly?: boolean }) => !m.readOnly)) {
          assert.ok(pod.volumes.find((v: { name: string; emptyDir?: unknown; persistentVolumeClaim?: unknown }) => v.name === m.name && (v.emptyDir || v.persistentVolumeClaim)), `${name}: ${m.mountPath}`)
        }
      }
    }
  }
  const base = objectsIn(CHECKED_IN, 'base')
  for (const component of COMPONENT_ORDER) {
    for (const kind of ['ServiceAccount', 'Service', 'PodDisruptionBudget']) assert.ok(base.some((o) => o.kind === kind && o.metadata.labels?.['app.kubernetes.io/name'] === component), `${component}: ${kind}`)
  }
  assert.ok(base.filter((o) => o.kind === 'ServiceAccount').every((sa) => sa.automountServiceAccountToken === false))
})

test('secrets reach pods only as files from Secrets, never environment variables; only the CA holds an API-server token', () => {
  for (const layer of ['base', 'overlays/postgres-redis']) {
    const text = filesUnder(join(CHECKED_IN, layer)).map((f) => readFileSync(join(CHECKED_IN, layer, f), 'utf8')).join('\n')
    assert.doesNotMatch(text, /secretKeyRef|envFrom|BULWARK_DATABASE_URL|BULWARK_REDIS_URL|joinToken/)
    assert.doesNotMatch(text, /(postgres|redis):\/\/[^@\s]*:[^@\s]*@/, 'no password in a URL')
    for (const d of deploymentsOf(layer)) {
      const pod = d.spec.template.spec
      for (const c of pod.containers) assert.deepEqual(c.env.map((e: { name: string }) => e.name), ['BULWARK_HOME'])
      const tokens = pod.volumes.flatMap((v: any) => (v.projected?.sources ?? []).filter((s: any) => s.serviceAccountToken).map((s: any) => s.serviceAccountToken))
      if (d.metadata.name === 'ca') {
        assert.deepEqual(tokens.map((t: any) => t.audience), [undefined], 'the CA reads the issuer keys from the API server')
      } else {
        assert.deepEqual(tokens, [{ audience: 'bulwark-ca', path: 'token', expirationSeconds: 600 }], d.metadata.name)
      }
      const secrets = pod.volumes.filter((v: any) => v.secret).map((v: any) => v.secret.secretName).sort()
      const expected = [...(d.metadata.name === 'ca' ? ['bulwark-ca-keys'] : []), ...(['identity', 'vault'].includes(d.metadata.name) ? ['bulwark-master-key'] : []), ...(layer === 'base' ? [] : ['bulwark-databases'])].sort()
      assert.deepEqual(secrets, expected, `${layer} ${d.metadata.name}`)
    }
  }
  const overlay = objectsIn(CHECKED_IN, 'overlays/postgres-redis').find((o) => o.kind === 'ConfigMap')!
  const orders = JSON.parse(overlay.data!['orders.json']!)
  assert.equal(orders.storage.postgres.passwordFile, '/etc/bulwark/db/postgres-password')
  assert.equal(orders.redis.passwordFile, '/etc/bulwark/db/redis-password')
})

type Edges = Set<string>

function networkEdges(objects: Obj[]): { ingress: Edges; egress: Edges } {
  const ingress: Edges = new Set()
  const egress: Edges = new Set()
  const nameOf = (selector: any) => selector?.matchLabels?.['app.kubernetes.io/name'] as string | undefined
  for (const p of objects.filter((o) => o.kind === 'NetworkPolicy')) {
    const self = nameOf(p.spec.podSelector)
    if (!self) continue
    for (const rule of p.spec.ingress ?? []) for (const peer of rule.from ?? []) ingress.add(`${nameOf(peer.podSelector)}->${self}`)
    for (const rule of p.spec.egress ?? []) for (const peer of rule.to ?? []) if (!peer.namespaceSelector) egress.add(`${self}->${nameOf(peer.podSelector)}`)
  }
  return { ingress, egress }
}

test('NetworkPolicies deny everything by default and then allow exactly the service-to-service calls Cedar permits', () => {
  const objects = objectsIn(CHECKED_IN, 'base')
  const deny = objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'default-deny')!
  assert.deepEqual(deny.spec, { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }, 'selects every pod, both directions')
  const cedar = new Set(segmentationGraph(readPolicyPath(POLICIES), { schema: SCHEMA, trustDomain: 'bulwark.local', components: COMPONENT_ORDER }).map((e) => `${e.from}->${e.to}`))
  const { ingress, egress } = networkEdges(objects)
  assert.deepEqual([...ingress].sort(), [...cedar].sort(), 'ingress = Cedar')
  assert.deepEqual([...egress].sort(), [...cedar].sort(), 'egress = Cedar')
  // The graph the platform promises (DESIGN: gateway → services, orders → payments and catalog, everyone → control plane)…
  for (const service of ['users', 'catalog', 'orders', 'payments', 'identity']) assert.ok(cedar.has(`gateway->${service}`), service)
  assert.ok(cedar.has('orders->payments') && cedar.has('orders->catalog'))
  for (const from of COMPONENT_ORDER) for (const to of ['ca', 'audit', 'policy', 'identity']) if (from !== to) assert.ok(cedar.has(`${from}->${to}`), `${from}->${to}`)
  // …and nothing else between shop services or back to the edge.
  for (const bad of ['payments->orders', 'catalog->orders', 'users->orders', 'users->payments', 'payments->catalog', 'orders->users', 'identity->gateway', 'orders->gateway']) assert.ok(!cedar.has(bad), bad)
  // Only the gateway takes traffic from anywhere, and only on its port; probes need no rule (the kubelet is on the node).
  const open = objects.filter((o) => o.kind === 'NetworkPolicy' && (o.spec.ingress ?? []).some((r: any) => !r.from))
  assert.deepEqual(open.map((o) => o.metadata.name), ['gateway-ingress'])
  for (const p of objects.filter((o) => o.kind === 'NetworkPolicy')) {
    for (const rule of p.spec.ingress ?? []) assert.ok(rule.ports.every((port: any) => port.port !== 9090), 'no pod reaches a probe port')
  }
})

test('a segmentation edge removed from the Cedar policies disappears from the NetworkPolicies', async () => {
  const policies = join(dir.path, 'policies')
  cpSync(POLICIES, policies, { recursive: true })
  const file = join(policies, 'segmentation.cedar')
  const text = readFileSync(file, 'utf8')
  const cut = text.replace(/@id\("seg-orders-to-payments"\)[\s\S]*?};\n/, '')
  assert.notEqual(cut, text)
  writeFileSync(file, cut)
  const out = join(dir.path, 'cut')
  const res = await runCli(['--home', join(dir.path, 'no-home'), 'deploy', 'kubernetes', '--out', out, '--policies', policies])
  assert.equal(res.code, 0, res.stderr)
  const { ingress, egress } = networkEdges(objectsIn(out, 'base'))
  assert.ok(!ingress.has('orders->payments') && !egress.has('orders->payments'))
  assert.ok(ingress.has('orders->catalog') && egress.has('gateway->payments'))
})

test('deploy refuses a database URL carrying a password, and a non-empty output directory without --force', async () => {
  const withPassword = await runCli(['--home', join(dir.path, 'no-home'), 'deploy', 'kubernetes', '--out', join(dir.path, 'pw'), '--postgres-url', 'postgres://bulwark:hunter2@db:5432/bulwark'])
  assert.equal(withPassword.code, 2)
  assert.match(withPassword.stderr, /carries a password/)
  assert.doesNotMatch(withPassword.stderr, /hunter2/)
  const again = await runCli(['--home', join(dir.path, 'no-home'), 'deploy', 'kubernetes', '--out', rendered])
  assert.equal(again.code, 1)
  assert.match(again.stderr, /not empty/)
})

test('a component that serves gRPC (catalog) exposes its gRPC port in its Service and container, peers learn its grpcUrl, and only its allowed callers reach that port', () => {
  const objects = objectsIn(rendered, 'base')
  const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'catalog')!
  assert.ok(service.spec.ports.some((p: { name: string; port: number }) => p.name === 'grpc' && p.port === 8622), JSON.stringify(service.spec.ports))
  const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'catalog')!
  assert.ok(deployment.spec.template.spec.containers[0].ports.some((p: { name: string }) => p.name === 'grpc'))
  const ingress = objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'catalog-ingress')!
  assert.deepEqual(ingress.spec.ingress[0].ports.map((p: { port: number }) => p.port).sort(), [8612, 8622])
  const gatewayEgress = objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'gateway-egress')!
  const toCatalog = gatewayEgress.spec.egress.find((rule: { to?: Array<{ podSelector: { matchLabels: Record<string, string> } }> }) => rule.to?.[0]?.podSelector.matchLabels['app.kubernetes.io/name'] === 'catalog')
  assert.deepEqual(toCatalog.ports.map((p: { port: number }) => p.port).sort(), [8612, 8622])
  const bootstrap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'bulwark-bootstrap')!
  const gatewayBootstrap = JSON.parse(bootstrap.data!['gateway.json']!)
  assert.equal(gatewayBootstrap.peers.catalog.grpcUrl, 'https://catalog.bulwark.svc:8622')
})
