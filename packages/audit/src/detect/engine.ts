// Runs every detector over each committed entry, in log order.
import type { AuditEvent, Clock } from '@bulwark/core'
import type { DetectorsConfig } from '../config.ts'
import { bruteForceDetector, mfaFailuresDetector, passwordSprayingDetector, tokenReuseDetector } from './account-detectors.ts'
import { errorBurstDetector, secretReadsDetector, serviceDeniedDetector } from './traffic-detectors.ts'
import type { Detection, Detector } from './types.ts'

export type DetectionEngine = {
  readonly detectors: readonly Detector[]
  observe(events: Iterable<AuditEvent>): Detection[]
}

export function createDetectionEngine(config: DetectorsConfig, clock: Clock): DetectionEngine {
  const detectors = [
    bruteForceDetector(config.bruteForce),
    passwordSprayingDetector(config.passwordSpraying),
    mfaFailuresDetector(config.mfaFailures),
    tokenReuseDetector(),
    errorBurstDetector(config.errorBurst),
    serviceDeniedDetector(config.serviceDenied),
    secretReadsDetector(config.secretReads),
  ]
  return {
    detectors,
    observe(events) {
      const found: Detection[] = []
      const now = clock.now()
      for (const event of events) {
        if (event.component === 'audit') continue // our own alerts never feed back
        const stated = Date.parse(event.time)
        const at = Number.isFinite(stated) ? Math.min(stated, now) : now
        for (const detector of detectors) {
          const detection = detector.observe(event, at)
          if (detection) found.push(detection)
        }
      }
      return found
    },
  }
}
