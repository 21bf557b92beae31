import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { openDatabase } from '@bulwark/core'
import { tempDir } from '@bulwark/testkit'

test('a component database and its WAL files are owner-only (0600) in an owner-only folder (0700)', () => {
  using dir = tempDir('bulwark-store-')
  const path = join(dir.path, 'data', 'orders.db')
  const db = openDatabase(path, { migrations: ['CREATE TABLE t (v TEXT)'] })
  try {
    db.prepare('INSERT INTO t (v) VALUES (?)').run('x')
    assert.equal(statSync(join(dir.path, 'data')).mode & 0o777, 0o700)
    for (const file of [path, `${path}-wal`, `${path}-shm`]) {
      assert.ok(existsSync(file), `${file} exists`)
      assert.equal(statSync(file).mode & 0o777, 0o600, `${file} is 0600`)
    }
  } finally {
    db.close()
  }
})

test('a migration that fails changes nothing and is not recorded as applied', () => {
  using dir = tempDir('bulwark-store-')
  const path = join(dir.path, 'x.db')
  openDatabase(path, { migrations: ['CREATE TABLE a (v TEXT)'] }).close()
  assert.throws(() => openDatabase(path, { migrations: ['CREATE TABLE a (v TEXT)', 'CREATE TABLE b (v TEXT); CREATE TABLE b (v TEXT)'] }))
  const db = openDatabase(path)
  try {
    assert.equal((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version, 1)
    assert.equal(db.prepare("SELECT name FROM sqlite_master WHERE name = 'b'").get(), undefined)
  } finally {
    db.close()
  }
})
