/**
 * Device type registry: driver name -> device class. An instance, not a global, so a process (or a
 * test) can have as many as it likes; the device zoo and downstream packages register into it.
 */
import { QdevError } from '../errors';
import type { Device, DeviceInit } from './device';
import { type PropertyInput, type PropertySchema, resolveProperties } from './properties';

/** A device class: what `-device <name>` creates, with its help text and property schema. */
export interface DeviceClass<S extends PropertySchema = PropertySchema> {
  /** Driver name, e.g. `edu`. */
  readonly name: string;
  /** One line for `-device help`. */
  readonly description: string;
  /** Bus type the device plugs into, e.g. `PCI`. */
  readonly busType: string;
  /** Help category (QEMU groups `-device help` by it), e.g. `Misc devices`. */
  readonly category?: string;
  readonly properties: S;
  /** Whether the device may be plugged/unplugged at run time (default true). */
  readonly hotpluggable?: boolean;
  /** Instantiates the device; must not fail for valid properties (failures belong in realize). */
  create(init: DeviceInit<S>): Device;
}

/** Options for {@link DeviceTypeRegistry.create}. */
export interface CreateDeviceOptions {
  id?: string | undefined;
  /** Property inputs: `key=value` strings or JSON values. */
  props?: PropertyInput;
}

/** Holds device classes by driver name. */
export class DeviceTypeRegistry {
  readonly #classes = new Map<string, DeviceClass>();

  /** Registers a class; `duplicate-driver` if the name is taken. */
  register<S extends PropertySchema>(cls: DeviceClass<S>): void {
    if (this.#classes.has(cls.name)) {
      throw new QdevError('duplicate-driver', `device type '${cls.name}' is already registered`, {
        driver: cls.name,
      });
    }
    if (!/^[a-z0-9][a-z0-9_.-]*$/i.test(cls.name)) {
      throw new QdevError('unknown-driver', `'${cls.name}' is not a valid driver name`, { driver: cls.name });
    }
    this.#classes.set(cls.name, cls as unknown as DeviceClass);
  }

  has(name: string): boolean {
    return this.#classes.has(name);
  }

  /** The class for `name`; `unknown-driver` (listing the known ones) if absent. */
  get(name: string): DeviceClass {
    const cls = this.#classes.get(name);
    if (cls === undefined) {
      const known = [...this.#classes.keys()].sort().join(', ');
      throw new QdevError(
        'unknown-driver',
        `'${name}' is not a valid device model name (known: ${known || 'none'})`,
        {
          driver: name,
        },
      );
    }
    return cls;
  }

  /** All classes, sorted by name. */
  list(): DeviceClass[] {
    return [...this.#classes.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Creates (does not realize or plug) a device of type `name`, parsing its properties. */
  create(name: string, opts: CreateDeviceOptions = {}): Device {
    const cls = this.get(name);
    const props = resolveProperties(cls.properties, opts.props ?? {}, name);
    return cls.create({ driver: name, id: opts.id, schema: cls.properties, props });
  }

  /**
   * `-device help` text (all types by category) or, with a name, `-device <name>,help`
   * (its properties with type, default and description).
   */
  help(name?: string): string {
    if (name === undefined) {
      const byCategory = new Map<string, DeviceClass[]>();
      for (const cls of this.list()) {
        const cat = cls.category ?? 'Uncategorized devices';
        byCategory.set(cat, [...(byCategory.get(cat) ?? []), cls]);
      }
      const out: string[] = [];
      for (const [cat, classes] of [...byCategory].sort(([a], [b]) => a.localeCompare(b))) {
        if (out.length > 0) out.push('');
        out.push(`${cat}:`);
        for (const cls of classes)
          out.push(`name "${cls.name}", bus ${cls.busType}, desc "${cls.description}"`);
      }
      return `${out.join('\n')}\n`;
    }
    const cls = this.get(name);
    const out = [`${cls.name} options:`];
    for (const [prop, def] of Object.entries(cls.properties).sort(([a], [b]) => a.localeCompare(b))) {
      const dflt = def.defaultValue === undefined ? '' : ` (default: ${def.format(def.defaultValue)})`;
      const desc = def.description === '' ? '' : ` - ${def.description}`;
      out.push(`  ${prop}=<${def.typeName}>${desc}${dflt}`);
    }
    return `${out.join('\n')}\n`;
  }
}
