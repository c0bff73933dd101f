/** A block device in memory, for NVMe namespaces under fuzzing (no files, no I/O). */
export function memoryBlockBackend(size: number) {
  const data = new Uint8Array(size);
  const read = async (at: number, iov: Uint8Array | readonly Uint8Array[]) => {
    for (const b of iov instanceof Uint8Array ? [iov] : iov) {
      b.set(data.subarray(at, at + b.length));
      at += b.length;
    }
  };
  const write = async (at: number, iov: Uint8Array | readonly Uint8Array[]) => {
    for (const b of iov instanceof Uint8Array ? [iov] : iov) {
      data.set(b, at);
      at += b.length;
    }
  };
  // Both method spellings, as the block backend interface has had both.
  return {
    data,
    size,
    readOnly: false,
    read,
    readv: read,
    write,
    writev: write,
    flush: async () => {},
    writeZeroes: async (at: number, length: number) => void data.fill(0, at, at + length),
    discard: async (at: number, length: number) => void data.fill(0, at, at + length),
  };
}
