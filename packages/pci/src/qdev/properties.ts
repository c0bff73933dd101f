/**
 * Typed device properties, as QEMU's static qdev properties: each has a type, an optional default
 * and a description, and is set from `key=value` strings (command line, monitor) or from JSON
 * values (QMP `device_add`). Integers accept decimal and 0x-hex strings; ranges are checked.
 */
import { QdevError } from '../errors';

/** The value a property holds once parsed. */
export type PropertyValue = boolean | number | bigint | string;

/** Definition of one property: how to parse it, its default and its help text. */
export interface PropertyDef<T extends PropertyValue = PropertyValue> {
  /** Type name shown by help output, e.g. `uint32`, `bool`, `on/off`, `pci-devfn`. */
  readonly typeName: string;
  readonly description: string;
  /** Value used when the property is not set; `undefined` means "required". */
  readonly defaultValue: T | undefined;
  /** Parses a `key=value` string or a JSON value; throws a message string on bad input. */
  parse(input: unknown): T;
  /** Formats a value the way `info qtree` prints it. */
  format(value: T): string;
}

/** A device class's property table: property name -> definition. */
export type PropertySchema = Readonly<Record<string, PropertyDef>>;

/** The parsed values for a schema; properties without default that were not set are absent. */
export type PropertyValues<S extends PropertySchema> = {
  -readonly [K in keyof S]: S[K] extends PropertyDef<infer T> ? T : never;
};

/** Raw input for properties: strings from `key=value` syntax or JSON values. */
export type PropertyInput = Readonly<Record<string, unknown>>;

class PropertyParseFailure {
  constructor(readonly message: string) {}
}

function fail(message: string): never {
  throw new PropertyParseFailure(message);
}

interface CommonOptions<T> {
  default?: T;
  description?: string;
}

const INT_STRING = /^[+-]?(0x[0-9a-f]+|[0-9]+)$/i;

function parseBigIntInput(input: unknown, typeName: string): bigint {
  if (typeof input === 'bigint') return input;
  if (typeof input === 'number') {
    if (!Number.isInteger(input)) fail(`'${input}' is not an integer (${typeName})`);
    return BigInt(input);
  }
  if (typeof input === 'string') {
    const s = input.trim();
    if (!INT_STRING.test(s)) fail(`'${input}' is not an integer (${typeName}; decimal or 0x-hex)`);
    const negative = s.startsWith('-');
    const digits = s.replace(/^[+-]/, '');
    const v = BigInt(digits);
    return negative ? -v : v;
  }
  return fail(`expected an integer (${typeName}), got ${describeInput(input)}`);
}

function describeInput(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'an array';
  return typeof input === 'object' ? 'an object' : `${typeof input} '${String(input)}'`;
}

function intProperty(
  typeName: string,
  min: bigint,
  max: bigint,
  opts: CommonOptions<number> & { min?: number; max?: number },
): PropertyDef<number> {
  const lo = opts.min === undefined ? min : BigInt(opts.min);
  const hi = opts.max === undefined ? max : BigInt(opts.max);
  return {
    typeName,
    description: opts.description ?? '',
    defaultValue: opts.default,
    parse(input) {
      const v = parseBigIntInput(input, typeName);
      if (v < lo || v > hi) throw new RangeFailure(`${v} is out of range [${lo}, ${hi}] (${typeName})`);
      return Number(v);
    },
    format: (v) => String(v),
  };
}

class RangeFailure extends PropertyParseFailure {}

/** Property constructors, one per type. */
export const prop = {
  /** bool: accepts on/off/true/false/yes/no (strings) and JSON booleans. */
  bool(opts: CommonOptions<boolean> = {}): PropertyDef<boolean> {
    return {
      typeName: 'bool',
      description: opts.description ?? '',
      defaultValue: opts.default,
      parse(input) {
        if (typeof input === 'boolean') return input;
        if (typeof input === 'string') {
          const s = input.trim().toLowerCase();
          if (s === 'on' || s === 'true' || s === 'yes') return true;
          if (s === 'off' || s === 'false' || s === 'no') return false;
        }
        return fail(`expected on/off/true/false, got ${describeInput(input)}`);
      },
      format: (v) => (v ? 'on' : 'off'),
    };
  },
  /** uint8 (0..255). */
  uint8(opts: CommonOptions<number> & { min?: number; max?: number } = {}): PropertyDef<number> {
    return intProperty('uint8', 0n, 0xffn, opts);
  },
  /** uint16 (0..65535). */
  uint16(opts: CommonOptions<number> & { min?: number; max?: number } = {}): PropertyDef<number> {
    return intProperty('uint16', 0n, 0xffffn, opts);
  },
  /** uint32 (0..2^32-1). */
  uint32(opts: CommonOptions<number> & { min?: number; max?: number } = {}): PropertyDef<number> {
    return intProperty('uint32', 0n, 0xffffffffn, opts);
  },
  /** int (int32, as QEMU's `int32` property). */
  int(opts: CommonOptions<number> & { min?: number; max?: number } = {}): PropertyDef<number> {
    return intProperty('int32', -0x80000000n, 0x7fffffffn, opts);
  },
  /** uint64, held as a bigint (JSON numbers and decimal/hex strings accepted). */
  uint64(opts: CommonOptions<bigint> & { min?: bigint; max?: bigint } = {}): PropertyDef<bigint> {
    const lo = opts.min ?? 0n;
    const hi = opts.max ?? 0xffff_ffff_ffff_ffffn;
    return {
      typeName: 'uint64',
      description: opts.description ?? '',
      defaultValue: opts.default,
      parse(input) {
        const v = parseBigIntInput(input, 'uint64');
        if (v < lo || v > hi) throw new RangeFailure(`${v} is out of range [${lo}, ${hi}] (uint64)`);
        return v;
      },
      format: (v) => `0x${v.toString(16)}`,
    };
  },
  /** str. */
  string(opts: CommonOptions<string> = {}): PropertyDef<string> {
    return {
      typeName: 'str',
      description: opts.description ?? '',
      defaultValue: opts.default,
      parse(input) {
        if (typeof input === 'string') return input;
        return fail(`expected a string, got ${describeInput(input)}`);
      },
      format: (v) => JSON.stringify(v),
    };
  },
  /** An enumeration of fixed strings. */
  enum<const V extends string>(values: readonly V[], opts: CommonOptions<V> = {}): PropertyDef<V> {
    return {
      typeName: values.join('/'),
      description: opts.description ?? '',
      defaultValue: opts.default,
      parse(input) {
        if (typeof input === 'string' && (values as readonly string[]).includes(input)) return input as V;
        return fail(`expected one of ${values.join(', ')}, got ${describeInput(input)}`);
      },
      format: (v) => v,
    };
  },
  /**
   * A property with its own syntax (e.g. PCI `addr=04.0`). `parse` throws a `RangeError` for an
   * out-of-range value and any other error for a malformed one.
   */
  custom<T extends PropertyValue>(def: {
    typeName: string;
    description?: string;
    default?: T;
    parse(input: unknown): T;
    format(value: T): string;
  }): PropertyDef<T> {
    return {
      typeName: def.typeName,
      description: def.description ?? '',
      defaultValue: def.default,
      parse(input) {
        try {
          return def.parse(input);
        } catch (e) {
          const message = e instanceof Error ? e.message : String(e);
          if (e instanceof RangeError) throw new RangeFailure(message);
          return fail(message);
        }
      },
      format: def.format,
    };
  },
} as const;

/**
 * Parses one property value. Throws a {@link QdevError} (`unknown-property`,
 * `invalid-property-value` or `property-out-of-range`) naming driver, property and value.
 */
export function parseProperty(
  schema: PropertySchema,
  name: string,
  input: unknown,
  driver: string,
): PropertyValue {
  const def = Object.hasOwn(schema, name) ? schema[name] : undefined;
  if (def === undefined) {
    const known = Object.keys(schema).sort().join(', ');
    throw new QdevError(
      'unknown-property',
      `'${driver}' has no property '${name}' (known: ${known || 'none'})`,
      { driver, property: name, value: String(input) },
    );
  }
  try {
    return def.parse(input);
  } catch (e) {
    if (!(e instanceof PropertyParseFailure)) throw e;
    const code = e instanceof RangeFailure ? 'property-out-of-range' : 'invalid-property-value';
    throw new QdevError(code, `property '${driver}.${name}': ${e.message}`, {
      driver,
      property: name,
      value: typeof input === 'string' ? input : JSON.stringify(input),
    });
  }
}

/**
 * Resolves a full set of property values: parses every given input, fills defaults and checks
 * that properties without a default were given.
 */
export function resolveProperties<S extends PropertySchema>(
  schema: S,
  input: PropertyInput,
  driver: string,
): PropertyValues<S> {
  const out: Record<string, PropertyValue> = {};
  for (const [name, raw] of Object.entries(input)) {
    if (raw === undefined) continue;
    out[name] = parseProperty(schema, name, raw, driver);
  }
  for (const [name, def] of Object.entries(schema)) {
    if (out[name] !== undefined) continue;
    if (def.defaultValue === undefined) {
      throw new QdevError(
        'invalid-property-value',
        `'${driver}' needs property '${name}' (${def.typeName})`,
        {
          driver,
          property: name,
        },
      );
    }
    out[name] = def.defaultValue;
  }
  return out as PropertyValues<S>;
}

/**
 * Splits QEMU `-device` option syntax (`driver,key=value,key=value`; a doubled comma is a literal
 * comma) into a driver name and its options. A bare `key` means `key=on`, as QEMU's QemuOpts does.
 */
export function parseDeviceOptions(spec: string): { driver: string; options: Record<string, string> } {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < spec.length; i++) {
    const ch = spec[i];
    if (ch === ',') {
      if (spec[i + 1] === ',') {
        current += ',';
        i++;
      } else {
        parts.push(current);
        current = '';
      }
    } else {
      current += ch;
    }
  }
  parts.push(current);
  const [first, ...rest] = parts;
  let driver = first ?? '';
  const options: Record<string, string> = {};
  if (driver.startsWith('driver=')) driver = driver.slice('driver='.length);
  if (driver === '' || driver.includes('=')) {
    throw new QdevError(
      'unknown-driver',
      `device option string '${spec}' does not start with a driver name`,
      {
        value: spec,
      },
    );
  }
  for (const part of rest) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? 'on' : part.slice(eq + 1);
    if (Object.hasOwn(options, key)) {
      throw new QdevError('invalid-property-value', `option '${key}' given twice in '${spec}'`, {
        driver,
        property: key,
        value,
      });
    }
    options[key] = value;
  }
  return { driver, options };
}
