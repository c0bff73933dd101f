export { loadVmState, loadVmStream, saveVmState, saveVmStream, type VmSectionToSave } from './codec';
export { describeVmStream } from './describe';
export { VmStateError, type VmStateErrorCode, type VmStateErrorContext } from './errors';
export {
  type ArrayField,
  type BoolField,
  type BytesField,
  defineVmState,
  type ScalarField,
  type StringField,
  type StructField,
  type U64Field,
  type VmField,
  type VmFields,
  type VmFieldsValue,
  type VmFieldValue,
  type VmStateSchema,
  type VmStateValue,
  type VmSubsection,
  type VmSubsections,
  VmType,
  vm,
} from './schema';
export {
  parseVmStream,
  VM_STREAM_FORMAT,
  VM_STREAM_MAGIC,
  type VmNodeSection,
  type VmNodeValue,
} from './stream';
