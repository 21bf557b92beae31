import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { loadCaseFile, resolveEntities, runPolicyCases, validatePolicyFiles, readPolicyPath } from '@bulwark/sdk/policy'
import { FIXTURES_DIR, readDefaultPolicies, readDefaultSchema } from '../src/defaults.ts'

test('the default policies validate against the schema without warnings', () => {
  const result = validatePolicyFiles(readDefaultSchema(), readDefaultPolicies())
  assert.deepEqual(result.errors, [])
  assert.deepEqual(result.warnings, [])
  assert.equal(result.ok, true)
})

test('the demo-shop fixture: every case decides as its README says', () => {
  const spec = loadCaseFile(join(FIXTURES_DIR, 'demo-shop', 'cases.json'))
  const schema = readDefaultSchema(join(spec.dir, spec.schema!))
  const policies = validatePolicyFiles(schema, readPolicyPath(join(spec.dir, spec.policies!))).policies
  const results = runPolicyCases({ schema, policies }, spec, resolveEntities(spec))
  assert.ok(results.length >= 25)
  for (const r of results) assert.equal(r.actual, r.expected, `${r.name}: ${r.errors.join('; ')}`)
  // Both outcomes occur, so the fixture cannot pass by always allowing or always denying.
  assert.ok(results.some((r) => r.actual === 'allow') && results.some((r) => r.actual === 'deny'))
})
