import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { casePolicyPaths, loadCaseFile, readPolicyPaths, resolveEntities, runPolicyCases, validatePolicyFiles } from '@bulwark/sdk/policy'
import { FIXTURES_DIR, readDefaultPolicies, readDefaultSchema } from '../src/defaults.ts'

test('the default policies validate against the schema without warnings', () => {
  const result = validatePolicyFiles(readDefaultSchema(), readDefaultPolicies())
  assert.deepEqual(result.errors, [])
  assert.deepEqual(result.warnings, [])
  assert.equal(result.ok, true)
})

for (const fixture of ['demo-shop']) {
  test(`the ${fixture} fixture: every case decides as its README says`, () => {
    const spec = loadCaseFile(join(FIXTURES_DIR, fixture, 'cases.json'))
    const schema = readDefaultSchema(join(spec.dir, spec.schema!))
    const checked = validatePolicyFiles(schema, readPolicyPaths(casePolicyPaths(spec)))
    assert.deepEqual(checked.errors, [])
    const results = runPolicyCases({ schema, policies: checked.policies }, spec, resolveEntities(spec))
    assert.ok(results.length >= 6)
    for (const r of results) assert.equal(r.actual, r.expected, `${r.name}: ${r.errors.join('; ')}`)
    // Both outcomes occur, so a fixture cannot pass by always allowing or always denying.
    assert.ok(results.some((r) => r.actual === 'allow') && results.some((r) => r.actual === 'deny'))
  })
}
