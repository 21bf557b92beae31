// Runs stages in order, timing each one (Prometheus, per stage) and recording
// which stage stopped the request, so the response, the audit event and the
// rejection metric can name it.
import { performance } from 'node:perf_hooks'
import type { Metrics } from '@bulwark/core'
import type { GatewayRequest, RequestContext, Stage } from './types.ts'

export class StageError extends Error {
  readonly stage: string
  constructor(stage: string, cause: unknown) {
    super(`stage ${stage} stopped the request`, { cause })
    this.stage = stage
  }
}

export type Pipeline = (req: GatewayRequest, ctx: RequestContext) => Promise<void>

export function createPipeline(stages: readonly Stage[], metrics?: Metrics): Pipeline {
  const histogram = metrics?.histogram('bulwark_gateway_stage_duration_seconds', 'Time spent in each gateway pipeline stage', ['stage'],
    [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1])
  const observers = stages.map((stage) => histogram?.labels({ stage: stage.name }))
  return async (req, ctx) => {
    for (let i = 0; i < stages.length; i++) {
      const stage = stages[i]!
      const start = performance.now()
      try {
        await stage.run(req, ctx)
      } catch (error) {
        throw new StageError(stage.name, error)
      } finally {
        observers[i]?.observe((performance.now() - start) / 1000)
      }
    }
  }
}
