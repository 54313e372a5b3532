/**
 * fullCollection (util/gc.ts) really collects: segment builds rely on it to drop a phase's garbage before
 * the next phase allocates (issue 11, bounded memory). Without --expose-gc on the command line.
 */
import { describe, expect, it } from 'vitest';
import { fullCollection } from '../../../src/util/gc.js';

describe('fullCollection', () => {
  it('collects an object nothing refers to any more', async () => {
    let target: object | null = { big: new Array(1000).fill('x') };
    const ref = new WeakRef(target);
    target = null;
    // A WeakRef's target is kept until the end of the job that created or read it.
    await new Promise((resolve) => setImmediate(resolve));
    fullCollection();
    expect(ref.deref()).toBeUndefined();
  });
});
