/**
 * An NVM command set namespace: a block backend addressed in logical blocks of 512 or 4096 bytes.
 */

import { DeviceError } from '../errors';
import type { NamespaceIdentity } from './identify';
import type { NvmeBlockBackend, NvmeNamespaceConfig } from './types';

/** A namespace attached to the controller. */
export class NvmeNamespace implements NamespaceIdentity {
  /** Namespace id. */
  readonly nsid: number;
  /** Backing store. */
  readonly backend: NvmeBlockBackend;
  /** Logical block size in bytes. */
  readonly logicalBlockSize: number;
  /** log2 of the logical block size. */
  readonly lbaShift: number;
  /** Size in logical blocks (NSZE). */
  readonly blocks: number;
  /** Namespace UUID reported in the identification descriptors. */
  readonly uuid: Uint8Array;

  constructor(config: NvmeNamespaceConfig, nsid: number, serial: string) {
    const lbs = config.logicalBlockSize ?? 512;
    if (lbs !== 512 && lbs !== 4096) {
      throw new DeviceError(
        'invalid-property',
        `logical_block_size must be 512 or 4096, got ${String(lbs)}`,
        {
          deviceType: 'nvme',
          property: 'logical_block_size',
          value: lbs,
        },
      );
    }
    if (!Number.isInteger(nsid) || nsid < 1 || nsid > 0xfffffffe) {
      throw new DeviceError('invalid-property', `namespace id must be 1..0xfffffffe, got ${nsid}`, {
        deviceType: 'nvme',
        property: 'nsid',
        value: nsid,
      });
    }
    this.nsid = nsid;
    this.backend = config.backend;
    this.logicalBlockSize = lbs;
    this.lbaShift = lbs === 4096 ? 12 : 9;
    // A partial trailing block is not addressable, as QEMU's namespace setup truncates.
    this.blocks = Math.floor(config.backend.size / lbs);
    this.uuid = config.uuid ?? defaultUuid(serial, nsid);
  }
}

/** A stable version-4-shaped UUID from the serial and nsid (FNV-1a spread over 16 bytes). */
function defaultUuid(serial: string, nsid: number): Uint8Array {
  const out = new Uint8Array(16);
  let h = 0x811c9dc5;
  const text = `${serial}/${nsid}`;
  for (let i = 0; i < 16; i++) {
    for (let k = 0; k < text.length; k++) h = Math.imul(h ^ text.charCodeAt(k) ^ i, 0x01000193) >>> 0;
    out[i] = h & 0xff;
  }
  out[6] = (out[6]! & 0x0f) | 0x40;
  out[8] = (out[8]! & 0x3f) | 0x80;
  return out;
}
