// Which Service keys another key starts with, kept as keys come and go: checked against the plain
// definition (a scan of every key) after each step of a fixed-seed walk, and through AgentState.
import t from 'tap';
import { KeyPrefixes } from '../../src/core/key-prefixes.js';
import { AgentState } from '../../src/core/agent-state.js';
import { DEFAULT_POLICY } from '../../src/core/policy.js';
import { serviceFromObject } from '../../src/kube/parse.js';
import { mulberry32 } from '../lib/prng.js';

/** The definition: some other key is longer and starts with `key`. */
function scan(keys: ReadonlySet<string>, key: string): boolean {
  for (const k of keys) if (k !== key && k.startsWith(key)) return true;
  return false;
}

t.test('the examples', async (t) => {
  const p = new KeyPrefixes();
  p.add('shop/api');
  t.equal(p.has('shop/api'), false, 'alone: no longer key');
  p.add('shop/api-canary');
  t.equal(p.has('shop/api'), true, 'shop/api-canary starts with shop/api');
  t.equal(p.has('shop/api-canary'), false);
  p.add('shop/api-canary');
  t.equal(p.size, 2, 'adding twice keeps one');
  p.add('shop/ap');
  t.equal(p.has('shop/ap'), true, 'a shorter key added later');
  p.add('shop/apz');
  p.add('other/api-canary');
  t.equal(p.has('shop/api'), true);
  p.delete('shop/api-canary');
  t.equal(p.has('shop/api'), false, 'its only extension gone');
  t.equal(p.has('shop/ap'), true, 'shop/api and shop/apz still extend shop/ap');
  p.delete('shop/api');
  p.delete('shop/apz');
  t.equal(p.has('shop/ap'), false);
  p.delete('shop/nope');
  t.equal(p.size, 2, 'deleting an unknown key changes nothing');
});

t.test('a fixed-seed walk of adds and deletes agrees with a scan at every step', async (t) => {
  const rand = mulberry32(0x6b657973);
  // Few namespaces and short names over a small alphabet: prefixes are common.
  const names = ['a', 'ab', 'abc', 'a-b', 'b', 'ba', 'abcd', 'web', 'web2', 'web-2', 'we', 'w'];
  const all = ['x', 'xy', 'y'].flatMap((ns) => names.map((n) => `${ns}/${n}`));
  const p = new KeyPrefixes();
  const keys = new Set<string>();
  const wrong: string[] = [];
  for (let step = 0; step < 2000; step++) {
    const key = all[Math.floor(rand() * all.length)] as string;
    if (rand() < 0.55) {
      p.add(key);
      keys.add(key);
    } else {
      p.delete(key);
      keys.delete(key);
    }
    for (const k of all) {
      if (p.has(k) !== (keys.has(k) && scan(keys, k))) wrong.push(`step ${step}: ${k} ${p.has(k)}`);
    }
    if (p.size !== keys.size) wrong.push(`step ${step}: size ${p.size} != ${keys.size}`);
  }
  t.same(wrong.slice(0, 5), []);
});

t.test('AgentState keeps it with its Services', async (t) => {
  const state = new AgentState({
    nodeName: 'n1',
    slowStartMs: 0,
    now: Date.now,
    policy: DEFAULT_POLICY,
    maxDrainFraction: 0.5,
  });
  const upsert = (name: string, weight?: string) =>
    state.upsertService(
      serviceFromObject(
        {
          metadata: {
            name,
            namespace: 'shop',
            ...(weight === undefined ? {} : { annotations: { 'haproxy-node-agent.io/weight': weight } }),
          },
        },
        'haproxy-node-agent.io',
        { min: 9301, max: 9399 },
      )!,
    );
  upsert('api');
  t.equal(state.isPrefixOfOtherKey('shop/api'), false);
  upsert('api-canary');
  t.equal(state.isPrefixOfOtherKey('shop/api'), true);
  upsert('api-canary', '25');
  t.equal(state.isPrefixOfOtherKey('shop/api'), true, 'an update is not a new key');
  state.deleteService('shop', 'api-canary');
  t.equal(state.isPrefixOfOtherKey('shop/api'), false, 'gone with its Service');
  t.equal(state.isPrefixOfOtherKey('shop/nope'), false, 'an unknown key');
});
