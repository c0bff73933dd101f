/** The NVMe 1.4 registers, opcodes and status fields the host driver uses. */

/** Controller registers in BAR0. */
export const NvmeRegister = {
  CAP: 0x00,
  VS: 0x08,
  INTMS: 0x0c,
  INTMC: 0x10,
  CC: 0x14,
  CSTS: 0x1c,
  AQA: 0x24,
  ASQ: 0x28,
  ACQ: 0x30,
} as const;

/** First doorbell; with CAP.DSTRD the stride is 4 << DSTRD. */
export const NVME_DOORBELL_BASE = 0x1000;

export const CC_EN = 1;
/** IOSQES 6 (64-byte entries), IOCQES 4 (16-byte entries), CSS NVM, MPS 4 KiB. */
export const CC_QUEUE_ENTRY_SIZES = (6 << 16) | (4 << 20);
export const CC_SHN_NORMAL = 1 << 14;
export const CSTS_RDY = 1;
export const CSTS_CFS = 2;
export const CSTS_SHST_MASK = 3 << 2;
export const CSTS_SHST_COMPLETE = 2 << 2;

/** Admin command opcodes. */
export const AdminOpcode = {
  DELETE_SQ: 0x00,
  CREATE_SQ: 0x01,
  GET_LOG_PAGE: 0x02,
  DELETE_CQ: 0x04,
  CREATE_CQ: 0x05,
  IDENTIFY: 0x06,
  ABORT: 0x08,
  SET_FEATURES: 0x09,
  GET_FEATURES: 0x0a,
  ASYNC_EVENT_REQUEST: 0x0c,
} as const;

/** NVM command set opcodes. */
export const IoOpcode = {
  FLUSH: 0x00,
  WRITE: 0x01,
  READ: 0x02,
  COMPARE: 0x05,
  WRITE_ZEROES: 0x08,
  DATASET_MANAGEMENT: 0x09,
} as const;

/** Feature identifiers. */
export const Feature = {
  NUMBER_OF_QUEUES: 0x07,
  VOLATILE_WRITE_CACHE: 0x06,
} as const;

/** Memory page size the driver programs (CC.MPS 0). */
export const PAGE_SIZE = 4096;
