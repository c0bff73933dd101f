import { describe, expect, it } from 'vitest';
import { copyIntoIoVector, gatherIoVector, ioVectorLength, sliceIoVector, zeroIoVector } from './io-vector';

describe('IoVector helpers', () => {
  const make = () => [Uint8Array.of(0, 1, 2), Uint8Array.of(3), Uint8Array.of(4, 5, 6, 7)];

  it('measures and slices across segment boundaries without copying', () => {
    const iov = make();
    expect(ioVectorLength(iov)).toBe(8);
    const s = sliceIoVector(iov, 2, 4);
    expect(s.map((v) => [...v])).toEqual([[2], [3], [4, 5]]);
    s[2]![0] = 99;
    expect(iov[2]![0]).toBe(99);
  });

  it('copies into and zeroes a range of the vector', () => {
    const iov = make();
    copyIntoIoVector(iov, 1, Uint8Array.of(9, 9, 9, 9));
    expect([...gatherIoVector(iov)]).toEqual([0, 9, 9, 9, 9, 5, 6, 7]);
    zeroIoVector(iov, 5, 3);
    expect([...gatherIoVector(iov)]).toEqual([0, 9, 9, 9, 9, 0, 0, 0]);
  });
});
