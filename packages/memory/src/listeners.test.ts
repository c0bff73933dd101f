import { describe, expect, it } from 'vitest';
import { MemoryContext } from './memory-context';
import { MemoryRegion } from './memory-region';
import type { MemoryListener, MemoryRegionSection } from './types';

function fmt(s: MemoryRegionSection): string {
  return `${s.region.name}@${s.offsetWithinAddressSpace.toString(16)}+${s.size.toString(16)}/${s.offsetWithinRegion.toString(16)}${s.readonly ? 'ro' : ''}`;
}

function recorder(log: string[], tag: string, priority?: number): MemoryListener {
  return {
    ...(priority === undefined ? {} : { priority }),
    begin: () => log.push(`${tag}:begin`),
    commit: () => log.push(`${tag}:commit`),
    regionAdd: (s) => log.push(`${tag}:add ${fmt(s)}`),
    regionDel: (s) => log.push(`${tag}:del ${fmt(s)}`),
  };
}

function setup() {
  const ctx = new MemoryContext('bus0');
  const root = MemoryRegion.container('pci-mem', 1n << 64n);
  const ram = MemoryRegion.ram('ram', 0x1000n);
  root.addSubregion(0n, ram);
  const as = ctx.createAddressSpace('pci-mem', root);
  return { ctx, root, ram, as };
}

describe('MemoryListener', () => {
  it('registration replays the current sections between begin and commit', () => {
    const { as } = setup();
    const log: string[] = [];
    as.addListener(recorder(log, 'L'));
    expect(log).toEqual(['L:begin', 'L:add ram@0+1000/0', 'L:commit']);
  });

  it('sees an update as a diff: deletions first (reverse priority), then additions (priority order)', () => {
    const { as, root, ram } = setup();
    const log: string[] = [];
    as.addListener(recorder(log, 'B', 10));
    as.addListener(recorder(log, 'A', 0));
    log.length = 0;
    const bar = MemoryRegion.io('bar0', 0x100n, { read: () => 0, write: () => {} });
    as.context.transaction(() => {
      root.addSubregionOverlap(0x800n, bar, 1);
      root.addSubregion(0x10000n, MemoryRegion.ram('hi', 0x1000n));
    });
    expect(log).toEqual([
      'A:begin',
      'B:begin',
      'B:del ram@0+1000/0',
      'A:del ram@0+1000/0',
      'A:add ram@0+800/0',
      'B:add ram@0+800/0',
      'A:add bar0@800+100/0',
      'B:add bar0@800+100/0',
      'A:add ram@900+700/900',
      'B:add ram@900+700/900',
      'A:add hi@10000+1000/0',
      'B:add hi@10000+1000/0',
      'A:commit',
      'B:commit',
    ]);
    // Unchanged sections are not reported again.
    log.length = 0;
    ram.setReadonly(true);
    expect(log.filter((l) => l.includes('hi@'))).toEqual([]);
    expect(log).toContain('A:add ram@0+800/0ro');
  });

  it('lets an owner find the RAM sections and use their bytes without copying', () => {
    const { as, root } = setup();
    const client = MemoryRegion.ram('client-dma', 0x2000n);
    root.addSubregion(0x8000_0000n, client);
    const mapped = new Map<bigint, Uint8Array>();
    as.addListener({
      regionAdd: (s) => {
        const bytes = s.region.ramBuffer;
        if (bytes === undefined) return;
        const off = Number(s.offsetWithinRegion);
        mapped.set(s.offsetWithinAddressSpace, bytes.subarray(off, off + Number(s.size)));
      },
      regionDel: (s) => mapped.delete(s.offsetWithinAddressSpace),
    });
    mapped.get(0x8000_0000n)![0x10] = 0xab;
    expect(as.readU8(0x8000_0010n)).toBe(0xab);
    root.removeSubregion(client);
    expect([...mapped.keys()]).toEqual([0n]);
  });

  it('a resize arrives as del + add', () => {
    const { as, root } = setup();
    const grow = MemoryRegion.container('win', 0x100n);
    grow.addSubregion(0n, MemoryRegion.ram('inner', 0x400n));
    root.addSubregion(0x2000n, grow);
    const log: string[] = [];
    as.addListener(recorder(log, 'L'));
    log.length = 0;
    grow.setSize(0x200n);
    expect(log).toEqual(['L:begin', 'L:del inner@2000+100/0', 'L:add inner@2000+200/0', 'L:commit']);
  });

  it('removeListener sends regionDel for every section and stops updates', () => {
    const { as, ram } = setup();
    const log: string[] = [];
    const l = recorder(log, 'L');
    as.addListener(l);
    log.length = 0;
    as.removeListener(l);
    expect(log).toEqual(['L:begin', 'L:del ram@0+1000/0', 'L:commit']);
    log.length = 0;
    ram.setEnabled(false);
    expect(log).toEqual([]);
  });

  it('a throwing listener does not stop the others; the commit then throws listener-failed', () => {
    const { as, ram } = setup();
    const log: string[] = [];
    as.addListener({
      regionDel: () => {
        throw new Error('listener bug');
      },
    });
    as.addListener(recorder(log, 'ok'));
    log.length = 0;
    expect(() => ram.setEnabled(false)).toThrow(
      expect.objectContaining({
        code: 'listener-failed',
        cause: expect.objectContaining({ message: 'listener bug' }),
      }),
    );
    expect(log).toEqual(['ok:begin', 'ok:del ram@0+1000/0', 'ok:commit']);
    expect(as.flatView.ranges).toEqual([]);
  });

  it('rejects registering the same listener twice', () => {
    const { as } = setup();
    const l = {};
    as.addListener(l);
    expect(() => as.addListener(l)).toThrow(expect.objectContaining({ code: 'invalid-argument' }));
  });

  it('begin/commit reach listeners of every address space in the context', () => {
    const { ctx, ram } = setup();
    const other = ctx.createAddressSpace('io', MemoryRegion.container('io', 0x10000n));
    const log: string[] = [];
    other.addListener(recorder(log, 'io'));
    log.length = 0;
    ram.setEnabled(false);
    expect(log).toEqual(['io:begin', 'io:commit']);
  });
});

describe('transactions', () => {
  it('render once per outermost commit, however many changes', () => {
    const { ctx, root, as } = setup();
    const start = as.renderCount;
    const regions = Array.from({ length: 50 }, (_, i) => MemoryRegion.ram(`r${i}`, 0x1000n));
    ctx.begin();
    ctx.begin();
    for (const [i, r] of regions.entries()) root.addSubregion(0x10_0000n + BigInt(i) * 0x1000n, r);
    ctx.commit();
    expect(ctx.transactionDepth).toBe(1);
    // Inside the transaction the old view stays in force.
    expect(as.renderCount).toBe(start);
    expect(as.flatView.lookup(0x10_0000n)).toBeUndefined();
    ctx.commit();
    expect(as.renderCount).toBe(start + 1);
    expect(as.flatView.ranges).toHaveLength(51);
  });

  it('without a transaction each change renders at once', () => {
    const { root, as } = setup();
    const start = as.renderCount;
    root.addSubregion(0x2000n, MemoryRegion.ram('a', 0x10n));
    root.addSubregion(0x3000n, MemoryRegion.ram('b', 0x10n));
    expect(as.renderCount).toBe(start + 2);
  });

  it('a BAR move in one transaction is one del and one add', () => {
    const { ctx, root, as } = setup();
    const bar = MemoryRegion.ram('bar', 0x100n);
    root.addSubregionOverlap(0x8000n, bar, 1);
    const log: string[] = [];
    as.addListener(recorder(log, 'L'));
    log.length = 0;
    ctx.transaction(() => {
      root.removeSubregion(bar);
      root.addSubregionOverlap(0x9000n, bar, 1);
    });
    expect(log).toEqual(['L:begin', 'L:del bar@8000+100/0', 'L:add bar@9000+100/0', 'L:commit']);
  });

  it('changes to regions not under any address space render nothing', () => {
    const { as } = setup();
    const start = as.renderCount;
    const loose = MemoryRegion.container('loose', 0x100n);
    loose.addSubregion(0n, MemoryRegion.ram('x', 1n));
    expect(as.renderCount).toBe(start);
  });

  it('a change seen through an alias re-renders the address space holding the alias', () => {
    const { root, as } = setup();
    const target = MemoryRegion.container('target', 0x1000n);
    root.addSubregion(0x4000n, MemoryRegion.alias('view', target, 0n, 0x1000n));
    target.addSubregion(0x10n, MemoryRegion.ram('late', 0x10n));
    expect(as.flatView.lookup(0x4010n)?.region.name).toBe('late');
  });

  it('commit without begin throws transaction-underflow', () => {
    const ctx = new MemoryContext('c');
    expect(() => ctx.commit()).toThrow(expect.objectContaining({ code: 'transaction-underflow' }));
  });

  it('transaction() commits even when the callback throws', () => {
    const { ctx, root, as } = setup();
    expect(() =>
      ctx.transaction(() => {
        root.addSubregion(0x5000n, MemoryRegion.ram('kept', 0x10n));
        throw new Error('oops');
      }),
    ).toThrow('oops');
    expect(ctx.transactionDepth).toBe(0);
    expect(as.flatView.lookup(0x5000n)?.region.name).toBe('kept');
  });

  it('a listener that changes the topology from commit is served in a further round', () => {
    const { root, as } = setup();
    const extra = MemoryRegion.ram('extra', 0x10n);
    let done = false;
    as.addListener({
      commit: () => {
        if (!done && as.flatView.lookup(0x6000n)) {
          done = true;
          root.addSubregion(0x7000n, extra);
        }
      },
    });
    root.addSubregion(0x6000n, MemoryRegion.ram('trigger', 0x10n));
    expect(as.flatView.lookup(0x7000n)?.region).toBe(extra);
  });

  it('listeners that never settle get topology-unstable', () => {
    const { root, as } = setup();
    const r = MemoryRegion.ram('flip', 0x10n);
    root.addSubregion(0x6000n, r);
    let armed = false;
    as.addListener({ commit: () => armed && r.setEnabled(!r.enabled) });
    armed = true;
    expect(() => r.setEnabled(false)).toThrow(expect.objectContaining({ code: 'topology-unstable' }));
  });
});
