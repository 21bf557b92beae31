import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '@bulwark/testkit'
import { warmCodeCaches } from '../src/supervisor/warm.ts'

test('warming loads every component’s modules (none starts anything) and fills both code caches', async () => {
  using dir = tempDir('bulwark-warm-')
  const { warmed, failed } = await warmCodeCaches({ cacheDir: dir.path })
  assert.deepEqual(failed, [])
  assert.equal(warmed.length, 11)
  assert.ok(readdirSync(join(dir.path, 'stripped')).filter((f) => f.endsWith('.js')).length > 50, 'type-stripped modules cached')
  assert.ok(readdirSync(join(dir.path, 'v8'), { recursive: true }).length > 0, 'V8 compile cache written')
})
