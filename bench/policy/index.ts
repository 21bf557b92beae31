// Policy decision benchmark: 200 policies, a realistic entity set and skewed
// traffic. Each optimisation step of createCedarAuthorizer is measured on its
// own, beside Cedar's plain isAuthorized and the same model in casbin.
// Target (DESIGN.md): p99 <= 50 µs per decision. Run: node bench/policy/index.ts
import { readFileSync } from 'node:fs'
import { availableParallelism, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { AuthzRequest } from '@bulwark/core'
import { cedar, createCedarAuthorizer, validatePolicyFiles } from '@bulwark/sdk/policy'
import { casbinArgs, createCasbin } from './casbin-model.ts'
import { buildRules, buildWorkload } from './workload.ts'

const TARGET_P99_US = 50
const N = Number(process.env.BENCH_POLICY_N ?? 30_000)
/** Each variant stops at N requests or this many ms, whichever comes first (keeps the run under a minute). */
const BUDGET_MS = Number(process.env.BENCH_POLICY_BUDGET_MS ?? 6_000)
const schema = readFileSync(fileURLToPath(new URL('../../packages/policy/schema/bulwark.cedarschema', import.meta.url)), 'utf8')
const rules = buildRules()
const checked = validatePolicyFiles(schema, { 'bench.cedar': rules.map((r) => r.cedar).join('\n') })
if (!checked.ok) throw new Error(`bench policies do not validate: ${checked.errors[0]!.message}`)
const policies = checked.policies
const { requests, roles } = buildWorkload(N)
// Earlier traffic from the same distribution (another sample): what a running service has already seen.
const earlier = buildWorkload(10_000, 1).requests

type Row = { name: string; n: number; perSec: number; p50: number; p99: number; p999: number; note: string }

function measure(name: string, decide: (r: AuthzRequest) => string, count: number, note = '', warmup: readonly AuthzRequest[] = earlier.slice(0, 1_000), afterWarmup?: () => void): Row & { decisions: string[] } {
  for (const r of warmup) decide(r)
  afterWarmup?.()
  const times = new Float64Array(count)
  const decisions: string[] = []
  const start = process.hrtime.bigint()
  const deadline = start + BigInt(BUDGET_MS) * 1_000_000n
  let i = 0
  for (; i < count; i++) {
    const t0 = process.hrtime.bigint()
    decisions.push(decide(requests[i]!))
    const t1 = process.hrtime.bigint()
    times[i] = Number(t1 - t0) / 1000
    if (t1 > deadline) { i++; break }
  }
  count = i
  const total = Number(process.hrtime.bigint() - start) / 1e9
  const sorted = [...times.subarray(0, count)].sort((a, b) => a - b)
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
  return { name, n: count, perSec: count / total, p50: q(0.5), p99: q(0.99), p999: q(0.999), note, decisions }
}

const cedarDecision = (answer: ReturnType<typeof cedar.isAuthorized>) =>
  answer.type === 'success' && answer.response.diagnostics.errors.length === 0 ? answer.response.decision : 'deny'

const rows: Array<ReturnType<typeof measure>> = []
// 1. Cedar as documented: isAuthorized parses all 200 policies on every call.
rows.push(measure('cedar isAuthorized (parse per call)', (r) => cedarDecision(cedar.isAuthorized({
  principal: r.principal, action: r.action, resource: r.resource, context: r.context as never, entities: r.entities as never, policies: { staticPolicies: policies },
})), Math.min(300, N), 'baseline'))
// 2. The whole set preparsed once.
cedar.preparsePolicySet('bench-whole', { staticPolicies: policies })
rows.push(measure('+ preparsed whole set', (r) => cedarDecision(cedar.statefulIsAuthorized({
  principal: r.principal, action: r.action, resource: r.resource, context: r.context as never, entities: r.entities as never, preparsedPolicySetId: 'bench-whole',
})), N))
// 3-5. createCedarAuthorizer, one optimisation at a time.
const steps: Array<[string, Parameters<typeof createCedarAuthorizer>[0], AuthzRequest[]?]> = [
  ['+ sliced by action x principal type', { schema, policies, cacheSize: 0, trim: false, gate: false }],
  ['+ role-gated (principal in Role::…)', { schema, policies, cacheSize: 0, trim: false }],
  ['+ entities/context trimmed to the slice', { schema, policies, cacheSize: 0 }],
  ['+ decision cache, cold (1k requests seen)', { schema, policies }],
  ['+ decision cache, steady (10k seen)', { schema, policies }, earlier],
]
const cacheStats: string[] = []
for (const [name, options, warmup] of steps) {
  const authz = createCedarAuthorizer(options)
  let evaluationsAfterWarmup = 0
  const row = measure(name, (r) => authz.authorize(r).decision, N, '', warmup, () => { evaluationsAfterWarmup = authz.stats().evaluations })
  const s = authz.stats()
  const misses = s.evaluations - evaluationsAfterWarmup
  row.note = `${s.slices} slices` + (options.cacheSize === 0 ? '' : `, ${(100 - (100 * misses) / row.n).toFixed(1)}% hits`)
  cacheStats.push(row.note)
  rows.push(row)
  authz.dispose()
}
// 6. casbin, same rules, same requests.
const enforcer = await createCasbin(rules, roles)
const casbinRequests = requests.map(casbinArgs)
const byRequest = new Map(requests.map((r, i) => [r, casbinRequests[i]!]))
rows.push(measure('casbin enforceSync (same model)', (r) => (enforcer.enforceSync(...(byRequest.get(r) ?? casbinArgs(r))) ? 'allow' : 'deny'), Math.min(N, 10_000), 'comparison'))

// Every Cedar variant must agree with the baseline; casbin with Cedar.
const reference = rows[1]!.decisions
for (const row of rows) {
  const compared = Math.min(row.decisions.length, reference.length)
  let agree = 0
  for (let i = 0; i < compared; i++) if (row.decisions[i] === reference[i]) agree++
  if (agree !== compared) row.note += `${row.note ? ', ' : ''}${((100 * agree) / compared).toFixed(1)}% agree with Cedar`
}
const allowed = reference.filter((d) => d === 'allow').length / reference.length
const fmt = (n: number, w: number) => n.toFixed(n >= 100 ? 0 : 1).padStart(w)
console.log(`policy decisions: ${Object.keys(policies).length} policies, ${N} requests (${(100 * allowed).toFixed(0)}% allowed), 1,000 users, 5,000 orders, skewed traffic`)
console.log(`target: p99 <= ${TARGET_P99_US} µs per decision; machine: ${availableParallelism()} cpus, load average ${loadavg()[0]!.toFixed(1)} (tail latencies include preemption when it is high)\n`)
console.log(`${'variant'.padEnd(42)} ${'n'.padStart(6)} ${'decisions/s'.padStart(12)} ${'p50 µs'.padStart(8)} ${'p99 µs'.padStart(8)} ${'p99.9 µs'.padStart(9)}  target  note`)
for (const r of rows) {
  console.log(`${r.name.padEnd(42)} ${String(r.n).padStart(6)} ${fmt(r.perSec, 12)} ${fmt(r.p50, 8)} ${fmt(r.p99, 8)} ${fmt(r.p999, 9)}  ${r.p99 <= TARGET_P99_US ? 'met ' : 'MISS'}    ${r.note}`)
}
const shipped = rows[6]!, whole = rows[1]!, casbinRow = rows[7]!
console.log(`\nshipped vs preparsed whole set: p99 ${(whole.p99 / shipped.p99).toFixed(1)}x lower, ${(shipped.perSec / whole.perSec).toFixed(1)}x throughput`)
console.log(`shipped vs casbin: p99 ${(casbinRow.p99 / shipped.p99).toFixed(1)}x lower, ${(shipped.perSec / casbinRow.perSec).toFixed(1)}x throughput`)
