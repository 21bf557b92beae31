// Temporary directories that tests clean up after themselves.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export function tempDir(prefix = 'bulwark-test-'): { path: string; [Symbol.dispose](): void; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix))
  const remove = () => rmSync(path, { recursive: true, force: true })
  return { path, remove, [Symbol.dispose]: remove }
}
