// npm postinstall: warms the components' code caches (packages/cli/src/supervisor/warm.ts)
// with the pinned Node 24, so the first `bulwark up` after an install is not a
// cold compile. Plain JavaScript, and it never fails the install: without the
// warm-up the first start is only slower.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const pinned = `${root}node_modules/node/bin/node`
const warm = `${root}packages/cli/src/supervisor/warm.ts`
if (process.env.BULWARK_SKIP_WARM || !existsSync(pinned) || !existsSync(warm)) process.exit(0)
const result = spawnSync(pinned, [warm], { cwd: root, stdio: 'inherit', timeout: 180_000 })
if (result.status !== 0) process.stdout.write('bulwark: code cache warm-up skipped; the first start compiles instead\n')
process.exit(0)
