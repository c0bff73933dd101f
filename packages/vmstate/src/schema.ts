/**
 * State descriptions: what a device saves, field by field, in the spirit of QEMU's VMState
 * (`include/migration/vmstate.h`). A {@link VmStateSchema} names the section, its version and the
 * oldest version it can still load; each field has a name, a type and optionally the version that
 * introduced it (with the value older streams load as). The TypeScript type of a state follows from
 * its schema ({@link VmStateValue}), so saving and loading need no casts.
 */

/** Wire type codes; part of the stream format (never renumber). */
export const VmType = {
  u8: 1,
  u16: 2,
  u32: 3,
  u64: 4,
  i32: 5,
  bool: 6,
  bytes: 7,
  string: 8,
  array: 9,
  struct: 10,
} as const;
export type VmTypeName = keyof typeof VmType;

interface FieldBase {
  /** Stream version that introduced the field; older streams load {@link FieldBase.default}. */
  readonly since?: number;
  /** Extra check on a loaded value: a reason string rejects the stream (e.g. a queue size too large). */
  readonly check?: (value: never) => string | undefined;
}

export interface ScalarField<K extends 'u8' | 'u16' | 'u32' | 'i32'> extends FieldBase {
  readonly kind: K;
  readonly default?: number;
}
export interface U64Field extends FieldBase {
  readonly kind: 'u64';
  readonly default?: bigint;
}
export interface BoolField extends FieldBase {
  readonly kind: 'bool';
  readonly default?: boolean;
}
export interface BytesField extends FieldBase {
  readonly kind: 'bytes';
  /** Upper bound checked before anything is allocated. */
  readonly maxLength: number;
  /** When set, a loaded value must have exactly this length. */
  readonly length?: number;
  readonly default?: Uint8Array;
}
export interface StringField extends FieldBase {
  readonly kind: 'string';
  readonly maxLength: number;
  readonly default?: string;
}
export interface ArrayField<E extends VmField = VmField> extends FieldBase {
  readonly kind: 'array';
  readonly of: E;
  readonly maxLength: number;
  readonly length?: number;
  readonly default?: VmFieldValue<E>[];
}
export interface StructField<F extends VmFields = VmFields> extends FieldBase {
  readonly kind: 'struct';
  readonly fields: F;
  readonly default?: VmFieldsValue<F>;
}

/** One field's description. */
export type VmField =
  | ScalarField<'u8'>
  | ScalarField<'u16'>
  | ScalarField<'u32'>
  | ScalarField<'i32'>
  | U64Field
  | BoolField
  | BytesField
  | StringField
  | ArrayField
  | StructField;

/** Named fields, in stream order. */
export type VmFields = Readonly<Record<string, VmField>>;

/** The TypeScript value of a field. */
export type VmFieldValue<F> =
  F extends ScalarField<'u8' | 'u16' | 'u32' | 'i32'>
    ? number
    : F extends U64Field
      ? bigint
      : F extends BoolField
        ? boolean
        : F extends BytesField
          ? Uint8Array
          : F extends StringField
            ? string
            : F extends ArrayField<infer E>
              ? VmFieldValue<E>[]
              : F extends StructField<infer S>
                ? VmFieldsValue<S>
                : never;

/** The TypeScript value of a set of fields. */
export type VmFieldsValue<F extends VmFields> = { -readonly [K in keyof F]: VmFieldValue<F[K]> };

/** An optional part of a section, saved only when present (QEMU's subsections and their `needed`). */
export interface VmSubsection<F extends VmFields = VmFields> {
  readonly version: number;
  readonly minimumVersion?: number;
  readonly fields: F;
}
export type VmSubsections = Readonly<Record<string, VmSubsection>>;

/** A section: one device's (or one layer's) whole state. */
export interface VmStateSchema<F extends VmFields = VmFields, S extends VmSubsections = VmSubsections> {
  /** Section name, e.g. `edu` or `pci`; a stream for another name is refused as foreign. */
  readonly name: string;
  /** Version this code saves. */
  readonly version: number;
  /** Oldest version this code loads (QEMU's `minimum_version_id`); default 1. */
  readonly minimumVersion?: number;
  readonly fields: F;
  readonly subsections?: S;
  /** A whole-state check after every field loaded (e.g. head and tail within the queue size). */
  readonly validate?: (value: VmStateValue<VmStateSchema<F, S>>) => string | undefined;
}

/** The TypeScript value of a section: its fields, plus each subsection's fields or undefined. */
export type VmStateValue<T> =
  T extends VmStateSchema<infer F, infer S>
    ? VmFieldsValue<F> & {
        subsections?: { [K in keyof S]?: S[K] extends VmSubsection<infer SF> ? VmFieldsValue<SF> : never };
      }
    : never;

type Opts<F> = Omit<F, 'kind'>;

/** Field constructors: `vm.u32()`, `vm.bytes({ maxLength: 4096 })`, `vm.array(vm.u64(), { maxLength: 64 })`... */
export const vm = {
  u8: (o: Opts<ScalarField<'u8'>> = {}): ScalarField<'u8'> => ({ kind: 'u8', ...o }),
  u16: (o: Opts<ScalarField<'u16'>> = {}): ScalarField<'u16'> => ({ kind: 'u16', ...o }),
  u32: (o: Opts<ScalarField<'u32'>> = {}): ScalarField<'u32'> => ({ kind: 'u32', ...o }),
  i32: (o: Opts<ScalarField<'i32'>> = {}): ScalarField<'i32'> => ({ kind: 'i32', ...o }),
  u64: (o: Opts<U64Field> = {}): U64Field => ({ kind: 'u64', ...o }),
  bool: (o: Opts<BoolField> = {}): BoolField => ({ kind: 'bool', ...o }),
  bytes: (o: Opts<BytesField>): BytesField => ({ kind: 'bytes', ...o }),
  string: (o: Opts<StringField>): StringField => ({ kind: 'string', ...o }),
  array: <E extends VmField>(of: E, o: Opts<Omit<ArrayField<E>, 'of'>>): ArrayField<E> => ({
    kind: 'array',
    of,
    ...o,
  }),
  struct: <F extends VmFields>(fields: F, o: Opts<Omit<StructField<F>, 'fields'>> = {}): StructField<F> => ({
    kind: 'struct',
    fields,
    ...o,
  }),
};

/** Declares a section schema; the identity function, there for type inference. */
export function defineVmState<F extends VmFields, S extends VmSubsections = Record<never, VmSubsection>>(
  schema: VmStateSchema<F, S>,
): VmStateSchema<F, S> {
  return schema;
}
