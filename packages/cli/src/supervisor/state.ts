// `.bulwark/run/state.json`: what the supervisor is running right now, read by
// `bulwark status`. Written atomically; holds no secrets.
import { readFileSync } from 'node:fs'
import { writeFileAtomic } from '@bulwark/core/base'

export type ComponentState = { name: string; url: string; spiffeId: string; pid: number | null; restarts: number; state: 'starting' | 'ready' | 'restarting' | 'stopped'; replica?: number }
export type RunState = { supervisorPid: number; startedAt: string; demo: boolean; gateway: string; components: ComponentState[] }

export function readRunState(path: string): RunState | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as RunState
  } catch {
    return undefined
  }
}

export function writeRunState(path: string, state: RunState): void {
  writeFileAtomic(path, JSON.stringify(state, null, 2) + '\n', 0o600)
}

export function isProcessAlive(pid: number | null | undefined): boolean {
  if (!pid) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
