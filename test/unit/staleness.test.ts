// The staleness unit alone (src/run/staleness.ts), pure: contact reports in, "how stale" and "is it
// stale" out, with a clock the test moves. What it must get right: never stale before any contact
// or with --max-staleness 0, stale only strictly past the limit, and fresh again at the next contact.
import t from 'tap';
import { Staleness } from '../../src/run/staleness.js';

function setup(maxMs: number) {
  const clock = { now: 1_000_000 };
  return { clock, s: new Staleness(maxMs, () => clock.now) };
}

t.test('before any contact: no age, never stale', async (t) => {
  const { clock, s } = setup(60_000);
  t.equal(s.secondsSinceContact(), undefined);
  clock.now += 10 * 60_000;
  t.equal(s.isStale(), false, 'a node that never reached the API has nothing stale to answer');
});

t.test('age in seconds since the last contact', async (t) => {
  const { clock, s } = setup(60_000);
  s.contact();
  t.equal(s.secondsSinceContact(), 0);
  clock.now += 2500;
  t.equal(s.secondsSinceContact(), 2.5);
  s.contact();
  t.equal(s.secondsSinceContact(), 0, 'each contact resets it');
});

t.test('stale strictly past --max-staleness, fresh at the next contact', async (t) => {
  const { clock, s } = setup(60_000);
  s.contact();
  clock.now += 60_000;
  t.equal(s.isStale(), false, 'exactly at the limit: not yet');
  clock.now += 1;
  t.equal(s.isStale(), true, 'one ms past it');
  s.contact();
  t.equal(s.isStale(), false, 'the API answered again');
});

t.test('--max-staleness 0 turns it off', async (t) => {
  const { clock, s } = setup(0);
  s.contact();
  clock.now += 24 * 3600_000;
  t.equal(s.isStale(), false);
  t.equal(s.secondsSinceContact(), 24 * 3600, 'the age is still reported');
  t.equal(s.maxSeconds, null, 'shown as null in /status');
  t.equal(setup(90_000).s.maxSeconds, 90);
});
