import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { MemoryContext } from './memory-context';
import { MemoryRegion } from './memory-region';

/**
 * Random region trees, rendered by the implementation, against a naive per-address walk of the
 * memory.rst visibility rules written from the spec data alone.
 */
interface NodeSpec {
  kind: 'ram' | 'io' | 'container' | 'alias';
  size: number;
  readonly: boolean;
  children: ChildSpec[];
  target: number;
  aliasOffset: number;
}
interface ChildSpec {
  offset: number;
  priority: number;
  node: NodeSpec;
}

const SPACE = 0x100;

/** Trees of bounded depth, so every generated graph is small enough to check address by address. */
function nodeArbitrary(depth: number): fc.Arbitrary<NodeSpec> {
  return fc.record({
    kind: fc.constantFrom<NodeSpec['kind']>('ram', 'io', 'container', 'container', 'alias'),
    size: fc.integer({ min: 1, max: 0xc0 }),
    readonly: fc.boolean(),
    children: depth === 0 ? fc.constant([]) : fc.array(childArbitrary(depth - 1), { maxLength: 3 }),
    target: fc.nat(),
    aliasOffset: fc.integer({ min: 0, max: 0x60 }),
  });
}

function childArbitrary(depth: number): fc.Arbitrary<ChildSpec> {
  return fc.record({
    offset: fc.integer({ min: 0, max: SPACE - 1 }),
    priority: fc.integer({ min: -2, max: 2 }),
    node: nodeArbitrary(depth),
  });
}

const nodeArb = nodeArbitrary(2);

interface Built {
  spec: NodeSpec;
  region: MemoryRegion;
  enabled: boolean;
  children: { offset: number; priority: number; order: number; built: Built }[];
  target: Built | undefined;
}

/** Builds real regions from a spec; aliases point at `pool` entries (so the graph stays acyclic). */
function build(spec: NodeSpec, pool: Built[], all: Built[]): Built {
  const name = `r${all.length}`;
  let kind = spec.kind;
  if (kind === 'alias' && pool.length === 0) kind = 'ram';
  let region: MemoryRegion;
  let target: Built | undefined;
  if (kind === 'alias') {
    target = pool[spec.target % pool.length]!;
    region = MemoryRegion.alias(name, target.region, BigInt(spec.aliasOffset), BigInt(spec.size));
  } else if (kind === 'ram') {
    region = MemoryRegion.ram(name, BigInt(spec.size));
  } else if (kind === 'io') {
    region = MemoryRegion.io(name, BigInt(spec.size), { read: () => 0, write: () => {} });
  } else {
    region = MemoryRegion.container(name, BigInt(spec.size));
  }
  if (spec.readonly) region.setReadonly(true);
  const built: Built = { spec: { ...spec, kind }, region, enabled: true, children: [], target };
  all.push(built);
  if (kind !== 'alias') {
    spec.children.forEach((c, order) => {
      const child = build(c.node, pool, all);
      region.addSubregionOverlap(BigInt(c.offset), child.region, c.priority);
      built.children.push({ offset: c.offset, priority: c.priority, order, built: child });
    });
  }
  return built;
}

interface Hit {
  region: MemoryRegion;
  offset: number;
  readonly: boolean;
}

/** memory.rst resolution for address `a`, relative to `b`, which is enabled and covers `a`. */
function resolve(b: Built, a: number, readonly: boolean): Hit | undefined {
  const ro = readonly || b.spec.readonly;
  if (b.spec.kind === 'alias') {
    const t = b.target!;
    const at = a + b.spec.aliasOffset;
    if (!t.enabled || at >= t.spec.size) return undefined;
    return resolve(t, at, ro);
  }
  const ordered = [...b.children].sort((x, y) => y.priority - x.priority || y.order - x.order);
  for (const c of ordered) {
    if (!c.built.enabled || a < c.offset || a >= c.offset + c.built.spec.size) continue;
    const hit = resolve(c.built, a - c.offset, ro);
    if (hit) return hit;
  }
  if (b.spec.kind === 'container') return undefined;
  return { region: b.region, offset: a, readonly: ro };
}

function compare(root: Built, ctxAs: ReturnType<MemoryContext['createAddressSpace']>): void {
  for (let a = 0; a < SPACE; a++) {
    const expected = resolve(root, a, false);
    const r = ctxAs.flatView.lookup(BigInt(a));
    const actual = r && {
      region: r.region,
      offset: Number(r.offsetInRegion + BigInt(a) - r.start),
      readonly: r.readonly,
    };
    if (expected === undefined) expect(actual, `address ${a}`).toBeUndefined();
    else {
      expect(actual?.region.name, `address ${a}`).toBe(expected.region.name);
      expect(actual?.offset, `address ${a}`).toBe(expected.offset);
      expect(actual?.readonly, `address ${a}`).toBe(expected.readonly);
    }
  }
  // The view is sorted and disjoint.
  const ranges = ctxAs.flatView.ranges;
  for (let i = 1; i < ranges.length; i++) {
    expect(ranges[i]!.start >= ranges[i - 1]!.start + ranges[i - 1]!.size).toBe(true);
  }
}

describe('FlatView against a per-address reference model', () => {
  test.prop(
    {
      poolSpecs: fc.array(nodeArb, { maxLength: 3 }),
      children: fc.array(childArbitrary(2), { maxLength: 6 }),
      toggles: fc.array(fc.nat(), { maxLength: 6 }),
    },
    { numRuns: 200 },
  )(
    'every address resolves as the memory.rst rules say, before and after enable toggles',
    ({ poolSpecs, children, toggles }) => {
      const all: Built[] = [];
      const pool: Built[] = [];
      for (const s of poolSpecs) pool.push(build(s, [...pool], all));
      const rootSpec: NodeSpec = {
        kind: 'container',
        size: SPACE,
        readonly: false,
        children,
        target: 0,
        aliasOffset: 0,
      };
      const root = build(rootSpec, pool, all);
      const ctx = new MemoryContext();
      const as = ctx.createAddressSpace('as', root.region);
      compare(root, as);

      // Disable/enable random regions in one transaction: one render, same rules.
      const before = as.renderCount;
      ctx.transaction(() => {
        for (const t of toggles) {
          const b = all[t % all.length]!;
          if (b === root) continue;
          b.enabled = !b.enabled;
          b.region.setEnabled(b.enabled);
        }
      });
      expect(as.renderCount - before).toBeLessThanOrEqual(1);
      compare(root, as);
    },
  );
});
