// Liveness and readiness: a component registers named checks; `/readyz` is
// 200 only when every check passes, `/healthz` when the process serves and
// the checks marked critical pass.
export type HealthCheck = () => boolean | Promise<boolean>

export type HealthReport = { ok: boolean; checks: Record<string, boolean> }

export type Health = {
  addCheck(name: string, check: HealthCheck, options?: { critical?: boolean }): void
  setReady(ready: boolean): void
  liveness(): Promise<HealthReport>
  readiness(): Promise<HealthReport>
}

export function createHealth(): Health {
  const checks = new Map<string, { check: HealthCheck; critical: boolean }>()
  let ready = false
  async function run(onlyCritical: boolean): Promise<HealthReport> {
    const results: Record<string, boolean> = {}
    for (const [name, { check, critical }] of checks) {
      if (onlyCritical && !critical) continue
      try {
        results[name] = await check()
      } catch {
        results[name] = false
      }
    }
    return { ok: Object.values(results).every(Boolean), checks: results }
  }
  return {
    addCheck(name, check, options = {}) {
      checks.set(name, { check, critical: options.critical ?? false })
    },
    setReady(value) { ready = value },
    async liveness() {
      const report = await run(true)
      return { ...report, ok: report.ok && ready }
    },
    async readiness() {
      const report = await run(false)
      return { ok: report.ok && ready, checks: { ...report.checks, started: ready } }
    },
  }
}
