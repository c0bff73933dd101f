import type { BlockBackend } from './backend';
import { type BlockdevOptions, parseBlockdevOptions } from './blockdev-options';
import { BlockError } from './errors';
import { openBlockdev } from './open';

/** A named node: its options, its open backend and the device using it, if any. */
export interface BlockNode {
  readonly nodeName: string;
  readonly options: BlockdevOptions;
  readonly backend: BlockBackend;
  /** Id of the device the node is attached to (QEMU's `qdev`), or undefined when free. */
  readonly attachedTo: string | undefined;
}

/** QEMU's BlockDeviceCacheInfo. */
export interface BlockDeviceCacheInfo {
  writeback: boolean;
  direct: boolean;
  'no-flush': boolean;
}

/** QEMU's BlockDeviceInfo (the `inserted` member of query-block), with the fields that apply. */
export interface BlockDeviceInfo {
  'node-name': string;
  drv: string;
  file: string;
  ro: boolean;
  encrypted: false;
  detect_zeroes: 'off';
  backing_file_depth: 0;
  cache: BlockDeviceCacheInfo;
  write_threshold: 0;
  image: { filename: string; format: string; 'virtual-size': number };
}

/** QEMU's BlockInfo: one entry of query-block. */
export interface BlockInfo {
  /** Empty: with -blockdev and -device, QEMU's backends are anonymous too. */
  device: '';
  /** The device's id. */
  qdev: string;
  type: 'unknown';
  removable: false;
  locked: false;
  inserted: BlockDeviceInfo;
}

/** Options of a {@link BlockNodeRegistry}. */
export interface BlockNodeRegistryOptions {
  /** Opens a backend; defaults to {@link openBlockdev} (tests inject failures here). */
  open?: (options: BlockdevOptions) => Promise<BlockBackend>;
}

interface Entry {
  nodeName: string;
  options: BlockdevOptions;
  backend: BlockBackend;
  attachedTo: string | undefined;
}

/**
 * The named block nodes of one process, as QEMU's `-blockdev` / blockdev-add / blockdev-del /
 * query-block keep them: a node is opened once, attached to at most one device at a time, and
 * cannot be deleted while a device uses it.
 */
export class BlockNodeRegistry {
  readonly #nodes = new Map<string, Entry>();
  /** Names being opened now, so that two concurrent adds of one name cannot both succeed. */
  readonly #opening = new Set<string>();
  readonly #open: (options: BlockdevOptions) => Promise<BlockBackend>;

  constructor(options: BlockNodeRegistryOptions = {}) {
    this.#open = options.open ?? openBlockdev;
  }

  /**
   * blockdev-add: validates `options` (a `-blockdev` string or a JSON object), opens the backend
   * and records it under its node-name. Rejects with node-exists for a name in use, or with the
   * open's error.
   */
  async add(options: BlockdevOptions | string | Readonly<Record<string, unknown>>): Promise<BlockNode> {
    const parsed = parseBlockdevOptions(options as string | Record<string, unknown>);
    const nodeName = parsed['node-name'];
    if (this.#nodes.has(nodeName) || this.#opening.has(nodeName)) {
      throw new BlockError('node-exists', `Duplicate nodes with node-name='${nodeName}'`, { nodeName });
    }
    this.#opening.add(nodeName);
    try {
      const backend = await this.#open(parsed);
      const entry: Entry = { nodeName, options: parsed, backend, attachedTo: undefined };
      this.#nodes.set(nodeName, entry);
      return toNode(entry);
    } finally {
      this.#opening.delete(nodeName);
    }
  }

  /** True when a node of that name exists. */
  has(nodeName: string): boolean {
    return this.#nodes.has(nodeName);
  }

  /** The node named `nodeName`; node-not-found otherwise. */
  get(nodeName: string): BlockNode {
    return toNode(this.#entry(nodeName));
  }

  /** Every node, in creation order. */
  list(): BlockNode[] {
    return [...this.#nodes.values()].map(toNode);
  }

  /**
   * Hands the node's backend to device `deviceId` (`-device ...,drive=NODE`). node-in-use when
   * another device holds it, as QEMU refuses two devices on one node.
   */
  attach(nodeName: string, deviceId: string): BlockBackend {
    const e = this.#entry(nodeName);
    if (e.attachedTo !== undefined && e.attachedTo !== deviceId) {
      throw new BlockError(
        'node-in-use',
        `Node '${nodeName}' is already in use by device '${e.attachedTo}'`,
        { nodeName },
      );
    }
    e.attachedTo = deviceId;
    return e.backend;
  }

  /** Releases the node from device `deviceId` (device_del). A no-op when it holds nothing. */
  detach(nodeName: string, deviceId: string): void {
    const e = this.#nodes.get(nodeName);
    if (e && e.attachedTo === deviceId) e.attachedTo = undefined;
  }

  /**
   * blockdev-del: closes the node's backend (waiting for its in-flight requests) and forgets it.
   * node-in-use while a device holds it; node-not-found for an unknown name.
   */
  async del(nodeName: string): Promise<void> {
    const e = this.#entry(nodeName);
    if (e.attachedTo !== undefined) {
      throw new BlockError(
        'node-in-use',
        `Node '${nodeName}' is busy: block device is in use by device '${e.attachedTo}'`,
        { nodeName },
      );
    }
    this.#nodes.delete(nodeName);
    await e.backend.close();
  }

  /**
   * Reconnects a network node whose server went away and came back (nbd), keeping the same
   * backend object, so the device using it serves again without being re-created. not-supported
   * for drivers without a connection; a no-op while connected.
   */
  async reconnect(nodeName: string): Promise<void> {
    const e = this.#entry(nodeName);
    const backend = e.backend as BlockBackend & { reconnect?: () => Promise<void> };
    if (typeof backend.reconnect !== 'function') {
      throw new BlockError(
        'not-supported',
        `Node '${nodeName}' (driver ${e.options.driver}) has no connection to re-open`,
        {
          nodeName,
          driver: e.options.driver,
        },
      );
    }
    await backend.reconnect();
  }

  /** query-block: one entry per node attached to a device, as QEMU lists its BlockBackends. */
  queryBlock(): BlockInfo[] {
    return [...this.#nodes.values()]
      .filter((e) => e.attachedTo !== undefined)
      .map((e) => ({
        device: '',
        qdev: e.attachedTo as string,
        type: 'unknown',
        removable: false,
        locked: false,
        inserted: deviceInfo(e),
      }));
  }

  /** query-named-block-nodes: every node, attached or not. */
  queryNamedBlockNodes(): BlockDeviceInfo[] {
    return [...this.#nodes.values()].map(deviceInfo);
  }

  /** Closes every node (at shutdown), attached or not. */
  async closeAll(): Promise<void> {
    const all = [...this.#nodes.values()];
    this.#nodes.clear();
    await Promise.allSettled(all.map((e) => e.backend.close()));
  }

  #entry(nodeName: string): Entry {
    const e = this.#nodes.get(nodeName);
    if (!e) throw new BlockError('node-not-found', `Cannot find node '${nodeName}'`, { nodeName });
    return e;
  }
}

function toNode(e: Entry): BlockNode {
  return { nodeName: e.nodeName, options: e.options, backend: e.backend, attachedTo: e.attachedTo };
}

/** The filename QEMU shows for a node (`nbd+unix:///exp?socket=/run/nbd.sock`, `null-co://`). */
export function blockdevFilename(options: BlockdevOptions): string {
  switch (options.driver) {
    case 'file':
      return options.filename;
    case 'null-co':
      return 'null-co://';
    case 'nbd': {
      const exp = options.export ?? '';
      const s = options.server;
      return s.type === 'unix' ? `nbd+unix:///${exp}?socket=${s.path}` : `nbd://${s.host}:${s.port}/${exp}`;
    }
  }
}

function deviceInfo(e: Entry): BlockDeviceInfo {
  const o = e.options;
  const file = blockdevFilename(o);
  return {
    'node-name': e.nodeName,
    drv: o.driver,
    file,
    ro: e.backend.readOnly,
    encrypted: false,
    detect_zeroes: 'off',
    backing_file_depth: 0,
    cache: {
      writeback: true,
      direct: o.cache?.direct ?? false,
      'no-flush': o.cache?.['no-flush'] ?? false,
    },
    write_threshold: 0,
    image: { filename: file, format: o.driver, 'virtual-size': e.backend.size },
  };
}
