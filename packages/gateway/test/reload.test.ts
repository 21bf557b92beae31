import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { createMemoryAuditSink, createSilentLogger } from '@bulwark/core'
import { tempDir } from '@bulwark/testkit'
import { compileRoutes, type RouteTable } from '../src/routes.ts'
import { readRoutesFromConfig, watchRoutes } from '../src/reload.ts'

const route = (id: string) => ({ id, path: `/${id}`, methods: ['GET'], upstream: 'catalog' })

test('a changed config.json reloads the routes; a bad one is refused and the old table kept', async () => {
  using dir = tempDir()
  const file = join(dir.path, 'config.json')
  const write = (routes: unknown) => {
    writeFileSync(`${file}.tmp`, JSON.stringify({ components: { gateway: { port: 8443, routes } } }))
    renameSync(`${file}.tmp`, file)
  }
  write([route('one')])
  let table: RouteTable = compileRoutes(readRoutesFromConfig(file))
  const audit = createMemoryAuditSink('gateway')
  let applied: () => void = () => {}
  const watcher = watchRoutes({
    files: [file], read: () => readRoutesFromConfig(file), log: createSilentLogger(), audit, debounceMs: 20,
    apply: (routes) => { table = compileRoutes(routes); applied() },
  })
  try {
    const changed = new Promise<void>((resolve) => { applied = resolve })
    write([route('one'), route('two')])
    await changed
    assert.deepEqual(table.routes.map((r) => r.id), ['one', 'two'])

    write([{ id: 'bad', path: '/a/*/b', methods: ['GET'], upstream: 'catalog' }])
    assert.equal(watcher.reload(), false)
    assert.deepEqual(table.routes.map((r) => r.id), ['one', 'two'])
    writeFileSync(file, '{ not json')
    assert.equal(watcher.reload(), false)
    assert.deepEqual(table.routes.map((r) => r.id), ['one', 'two'])
    assert.equal(audit.events.filter((e) => e.type === 'config.rejected').length, 2)
  } finally {
    watcher.stop()
  }
})

test('SIGHUP reloads', async () => {
  using dir = tempDir()
  const file = join(dir.path, 'routes.json')
  writeFileSync(file, JSON.stringify({ components: { gateway: { routes: [route('a')] } } }))
  let done: () => void = () => {}
  const reloaded = new Promise<void>((resolve) => { done = resolve })
  const watcher = watchRoutes({ files: [], read: () => readRoutesFromConfig(file), apply: (routes) => { compileRoutes(routes); done() }, log: createSilentLogger(), audit: createMemoryAuditSink(), debounceMs: 1 })
  try {
    process.emit('SIGHUP', 'SIGHUP')
    await reloaded
  } finally {
    watcher.stop()
  }
})

test('createGateway reads its table from routesFile when one is named', async () => {
  using dir = tempDir()
  const file = join(dir.path, 'routes.json')
  writeFileSync(file, JSON.stringify([route('only')]))
  const { createGateway } = await import('../src/index.ts')
  const { createMetrics } = await import('@bulwark/core')
  const { createTestCa } = await import('@bulwark/testkit')
  const ca = await createTestCa()
  const gateway = createGateway({ routesFile: file, feeds: { revocations: false, blocks: false } }, {
    log: createSilentLogger(), metrics: createMetrics('gateway'), audit: createMemoryAuditSink(), publicUrl: 'https://localhost:8443', svid: await ca.source('gateway'),
    authorizer: { authorize: () => ({ decision: 'deny', reasons: [], errors: [], policyVersion: '0' }) }, peer: () => { throw new Error('none') },
  })
  try {
    assert.deepEqual(gateway.routes.routes.map((r) => r.id), ['only'])
  } finally {
    await gateway.close()
  }
})
