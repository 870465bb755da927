// One row per line of the README's decision table.
import t from 'tap';
import { decide, type DecisionInput } from '../src/decide.js';
import { formatReply } from '../src/reply.js';

const node = { name: 'n1', unschedulable: false };
const cordoned = { name: 'n1', unschedulable: true };
const svc = (weight: number) => ({ namespace: 'shop', name: 'web', weight });

const rows: Array<[string, DecisionInput, string]> = [
  ['not synced yet: no reply', { synced: false, node, service: svc(50) }, ''],
  ['not synced, node unknown: no reply', { synced: false, node: undefined, service: undefined }, ''],
  ['node absent after sync: drain', { synced: true, node: undefined, service: undefined }, 'drain\n'],
  ['node absent, service known: drain', { synced: true, node: undefined, service: svc(50) }, 'drain\n'],
  ['cordoned: drain', { synced: true, node: cordoned, service: undefined }, 'drain\n'],
  ['cordoned with weighted service: drain', { synced: true, node: cordoned, service: svc(25) }, 'drain\n'],
  ['healthy node alone: ready up 100%', { synced: true, node, service: undefined }, 'ready up 100%\n'],
  ['healthy, service default weight', { synced: true, node, service: svc(100) }, 'ready up 100%\n'],
  ['healthy, service weight 25', { synced: true, node, service: svc(25) }, 'ready up 25%\n'],
  ['healthy, service weight 0: up with weight 0, not drain', { synced: true, node, service: svc(0) }, 'ready up 0%\n'],
  ['healthy, service weight 256', { synced: true, node, service: svc(256) }, 'ready up 256%\n'],
];

for (const [name, input, wire] of rows) {
  t.test(name, async (t) => {
    t.equal(formatReply(decide(input)), wire);
  });
}

t.test('every ready reply carries ready and up, every reply ends in a newline', async (t) => {
  for (const [, input] of rows) {
    const wire = formatReply(decide(input));
    if (wire === '') continue;
    t.ok(wire.endsWith('\n'), wire);
    if (wire.startsWith('ready')) t.match(wire, /^ready up \d+%\n$/);
  }
});
