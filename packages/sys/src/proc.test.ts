import { describe, expect, it } from 'vitest';
import { createMemfd } from './owned-fd';
import { listOpenFds } from './proc';

describe('listOpenFds', () => {
  it('lists a new descriptor while it is open and not after close, and nothing stale', () => {
    const before = listOpenFds();
    expect(before).toEqual(listOpenFds());
    const fd = createMemfd('listed');
    expect(listOpenFds()).toContain(fd.fd);
    const n = fd.fd;
    fd.close();
    expect(listOpenFds()).not.toContain(n);
    expect(listOpenFds()).toEqual(before);
    expect(before).toEqual(expect.arrayContaining([0, 1, 2]));
  });
});
