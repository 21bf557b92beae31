import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createIpFilterStage } from '../src/pipeline/ip-filter.ts'
import { clientIpOf, createCidrList } from '../src/ip.ts'
import { makeCtx, makeReq, outcome, routeOf } from './helpers-unit.ts'

type Case = [string, { allow?: string[]; deny?: string[]; trusted?: string[]; route?: { allow?: string[]; deny?: string[] } }, string, string | undefined, string]
const cases: Case[] = [
  ['no lists allow everyone', {}, '203.0.113.9', undefined, 'ok'],
  ['a v4 deny', { deny: ['203.0.113.0/24'] }, '203.0.113.9', undefined, 'BW_GATEWAY_IP_DENIED'],
  ['a v4-mapped v6 socket address is matched as v4', { deny: ['203.0.113.0/24'] }, '::ffff:203.0.113.9', undefined, 'BW_GATEWAY_IP_DENIED'],
  ['an allow list refuses others', { allow: ['10.0.0.0/8'] }, '192.0.2.1', undefined, 'BW_GATEWAY_IP_DENIED'],
  ['an allow list admits members', { allow: ['10.0.0.0/8'] }, '10.1.2.3', undefined, 'ok'],
  ['deny wins over allow', { allow: ['10.0.0.0/8'], deny: ['10.9.0.0/16'] }, '10.9.1.1', undefined, 'BW_GATEWAY_IP_DENIED'],
  ['a v6 deny', { deny: ['2001:db8::/32'] }, '2001:db8::1', undefined, 'BW_GATEWAY_IP_DENIED'],
  ['a v6 allow', { allow: ['::1/128'] }, '::1', undefined, 'ok'],
  ['XFF ignored from an untrusted peer', { deny: ['198.51.100.7/32'] }, '192.0.2.1', '198.51.100.7', 'ok'],
  ['XFF believed from a trusted proxy', { deny: ['198.51.100.7/32'], trusted: ['192.0.2.0/24'] }, '192.0.2.1', '198.51.100.7', 'BW_GATEWAY_IP_DENIED'],
  ['a spoofed left-most XFF entry is not believed', { deny: ['198.51.100.7/32'], trusted: ['192.0.2.0/24'] }, '192.0.2.1', '198.51.100.7, 203.0.113.5', 'ok'],
  ['a per-route deny', { route: { deny: ['127.0.0.0/8'] } }, '127.0.0.1', undefined, 'BW_GATEWAY_IP_DENIED'],
  ['a per-route allow', { route: { allow: ['10.0.0.0/8'] } }, '127.0.0.1', undefined, 'BW_GATEWAY_IP_DENIED'],
]
for (const [name, lists, remote, xff, expected] of cases) {
  test(`ip filter: ${name}`, async () => {
    const stage = createIpFilterStage({ allow: lists.allow ?? [], deny: lists.deny ?? [], trustedProxies: lists.trusted ?? [] })
    const route = routeOf(lists.route ? { ipFilter: lists.route } : {})
    const req = makeReq({ remoteAddress: remote, headers: xff ? { 'x-forwarded-for': xff } : {} })
    assert.equal(await outcome(() => stage.run(req, makeCtx({ route }))), expected)
  })
}

test('the client address is the right-most untrusted XFF hop', () => {
  const trusted = createCidrList(['10.0.0.0/8'])
  assert.equal(clientIpOf('10.0.0.1', '1.1.1.1, 2.2.2.2, 10.0.0.2', trusted), '2.2.2.2')
  assert.equal(clientIpOf('10.0.0.1', 'garbage', trusted), '10.0.0.1')
  assert.equal(clientIpOf('::ffff:127.0.0.1', undefined, trusted), '127.0.0.1')
})

test('bad CIDRs are refused at construction', () => {
  for (const bad of ['10.0.0.0/33', 'nonsense', '::1/129', '10.0.0.0/x']) assert.throws(() => createCidrList([bad]), TypeError)
})
