/**
 * NVM Express constants: controller registers (NVMe 1.4 section 3.1), command opcodes, status
 * codes, feature and log page identifiers. Names follow QEMU's `include/block/nvme.h` where QEMU
 * has one, so they grep against its sources and the specification.
 */

/** Controller register offsets in BAR0 (NVMe 1.4 figure 78). */
export const NvmeReg = {
  CAP: 0x00,
  VS: 0x08,
  INTMS: 0x0c,
  INTMC: 0x10,
  CC: 0x14,
  CSTS: 0x1c,
  NSSR: 0x20,
  AQA: 0x24,
  ASQ: 0x28,
  ACQ: 0x30,
  CMBLOC: 0x38,
  CMBSZ: 0x3c,
  BPINFO: 0x40,
  BPRSEL: 0x44,
  BPMBL: 0x48,
  CMBMSC: 0x50,
  CMBSTS: 0x58,
  PMRCAP: 0xe00,
} as const;

/** Size of the controller register block; doorbells start here (NVMe 1.4 section 3.1.24). */
export const NVME_REG_SIZE = 0x1000;
/** Size of one doorbell with CAP.DSTRD = 0. */
export const NVME_DB_SIZE = 4;

/** NVMe version reported in VS and Identify Controller VER: 1.4.0. */
export const NVME_SPEC_VER = 0x00010400;

/** CC fields (NVMe 1.4 figure 84). */
export const NVME_CC_EN = 1 << 0;
export const NVME_CC_CSS_SHIFT = 4;
export const NVME_CC_MPS_SHIFT = 7;
export const NVME_CC_SHN_SHIFT = 14;
export const NVME_CC_IOSQES_SHIFT = 16;
export const NVME_CC_IOCQES_SHIFT = 20;
/** CC.CSS values. */
export const NVME_CC_CSS_NVM = 0;
export const NVME_CC_CSS_CSI = 6;
export const NVME_CC_CSS_ADMIN_ONLY = 7;

/** CSTS fields (NVMe 1.4 figure 85). */
export const NVME_CSTS_READY = 1 << 0;
export const NVME_CSTS_FAILED = 1 << 1;
export const NVME_CSTS_SHST_SHIFT = 2;
export const NVME_CSTS_SHST_OCCURRING = 1 << 2;
export const NVME_CSTS_SHST_COMPLETE = 2 << 2;
export const NVME_CSTS_SHST_MASK = 3 << 2;

/** Submission and completion queue entry sizes (log2 in Identify SQES/CQES and CC). */
export const NVME_SQES = 6;
export const NVME_CQES = 4;
export const NVME_SQE_SIZE = 1 << NVME_SQES;
export const NVME_CQE_SIZE = 1 << NVME_CQES;

/** Admin command opcodes (NVMe 1.4 figure 139). */
export const NvmeAdminOpcode = {
  DELETE_SQ: 0x00,
  CREATE_SQ: 0x01,
  GET_LOG_PAGE: 0x02,
  DELETE_CQ: 0x04,
  CREATE_CQ: 0x05,
  IDENTIFY: 0x06,
  ABORT: 0x08,
  SET_FEATURES: 0x09,
  GET_FEATURES: 0x0a,
  ASYNC_EV_REQ: 0x0c,
  DBBUF_CONFIG: 0x7c,
} as const;

/** NVM command set opcodes (NVMe 1.4 figure 346). */
export const NvmeIoOpcode = {
  FLUSH: 0x00,
  WRITE: 0x01,
  READ: 0x02,
  COMPARE: 0x05,
  WRITE_ZEROES: 0x08,
  DSM: 0x09,
} as const;

/**
 * Status codes as QEMU's `NvmeStatusCodes`: bits 10:8 the status code type, 7:0 the code, with
 * `NVME_DNR` (do not retry) and `NVME_MORE` as flags. The completion entry carries it shifted
 * left by one above the phase tag.
 */
export const NvmeStatus = {
  SUCCESS: 0x0000,
  INVALID_OPCODE: 0x0001,
  INVALID_FIELD: 0x0002,
  CID_CONFLICT: 0x0003,
  DATA_TRAS_ERROR: 0x0004,
  POWER_LOSS_ABORT: 0x0005,
  INTERNAL_DEV_ERROR: 0x0006,
  CMD_ABORT_REQ: 0x0007,
  CMD_ABORT_SQ_DEL: 0x0008,
  INVALID_NSID: 0x000b,
  CMD_SEQ_ERROR: 0x000c,
  INVALID_SGL_SEG_DESCR: 0x000d,
  INVALID_NUM_SGL_DESCRS: 0x000e,
  DATA_SGL_LEN_INVALID: 0x000f,
  SGL_DESCR_TYPE_INVALID: 0x0011,
  INVALID_PRP_OFFSET: 0x0013,
  NS_WRITE_PROTECTED: 0x0020,
  INVALID_CMD_SET: 0x002c,
  LBA_RANGE: 0x0080,
  CAP_EXCEEDED: 0x0081,
  NS_NOT_READY: 0x0082,
  INVALID_CQID: 0x0100,
  INVALID_QID: 0x0101,
  MAX_QSIZE_EXCEEDED: 0x0102,
  AER_LIMIT_EXCEEDED: 0x0105,
  INVALID_IRQ_VECTOR: 0x0108,
  INVALID_LOG_ID: 0x0109,
  INVALID_QUEUE_DEL: 0x010c,
  FID_NOT_SAVEABLE: 0x010d,
  FEAT_NOT_CHANGEABLE: 0x010e,
  WRITE_FAULT: 0x0280,
  UNRECOVERED_READ: 0x0281,
  CMP_FAILURE: 0x0285,
  MORE: 0x2000,
  DNR: 0x4000,
} as const;

/** Feature identifiers (NVMe 1.4 figure 271). */
export const NvmeFeature = {
  ARBITRATION: 0x01,
  POWER_MANAGEMENT: 0x02,
  TEMPERATURE_THRESHOLD: 0x04,
  ERROR_RECOVERY: 0x05,
  VOLATILE_WRITE_CACHE: 0x06,
  NUMBER_OF_QUEUES: 0x07,
  INTERRUPT_COALESCING: 0x08,
  INTERRUPT_VECTOR_CONF: 0x09,
  WRITE_ATOMICITY: 0x0a,
  ASYNCHRONOUS_EVENT_CONF: 0x0b,
  TIMESTAMP: 0x0e,
} as const;

/** Log page identifiers (NVMe 1.4 figure 191). */
export const NvmeLogPage = {
  ERROR_INFO: 0x01,
  SMART_INFO: 0x02,
  FW_SLOT_INFO: 0x03,
  CHANGED_NSLIST: 0x04,
  CMD_EFFECTS: 0x05,
} as const;

/** Identify CNS values (NVMe 1.4 figure 244, plus the I/O command set ones of NVMe 2.0). */
export const NvmeIdCns = {
  NS: 0x00,
  CTRL: 0x01,
  NS_ACTIVE_LIST: 0x02,
  NS_DESCR_LIST: 0x03,
  CS_NS: 0x05,
  CS_CTRL: 0x06,
  CS_NS_ACTIVE_LIST: 0x07,
  NS_PRESENT_LIST: 0x10,
  NS_PRESENT: 0x11,
  CS_NS_PRESENT_LIST: 0x1a,
  CS_NS_PRESENT: 0x1b,
  IO_COMMAND_SET: 0x1c,
} as const;

/** Asynchronous event types and information (NVMe 1.4 figure 146). */
export const NvmeAerType = { ERROR: 0, SMART: 1, NOTICE: 2 } as const;
export const NVME_AER_INFO_ERR_INVALID_DB_REGISTER = 0x00;
export const NVME_AER_INFO_ERR_INVALID_DB_VALUE = 0x01;
export const NVME_AER_INFO_NOTICE_NS_ATTR_CHANGED = 0x00;
export const NVME_AER_INFO_SMART_TEMP_THRESH = 0x01;

/** Command Set Identifier of the NVM command set. */
export const NVME_CSI_NVM = 0;

/** Broadcast namespace id. */
export const NVME_NSID_BROADCAST = 0xffffffff;

/** Temperatures in kelvin, as QEMU: composite temperature, warning and critical thresholds. */
export const NVME_TEMPERATURE = 0x143;
export const NVME_TEMPERATURE_WARNING = 0x157;
export const NVME_TEMPERATURE_CRITICAL = 0x175;

/** Identification of QEMU's controller: PCI ids and the strings Linux shows. */
export const NVME_PCI_IDS = {
  vendorId: 0x1b36,
  deviceId: 0x0010,
  revision: 0x02,
  classCode: 0x010802,
  subsystemVendorId: 0x1af4,
  subsystemId: 0x1100,
} as const;
export const NVME_MODEL_NUMBER = 'QEMU NVMe Ctrl';
/** IEEE OUI QEMU reports (52:54:00, little endian in Identify). */
export const NVME_IEEE_OUI = 0x525400;

/** Property defaults as QEMU's `-device nvme`. */
export const NVME_DEFAULT_MAX_IOQPAIRS = 64;
export const NVME_DEFAULT_MSIX_QSIZE = 65;
/** Upper bound of `msix_qsize`: larger MSI-X tables break Windows' resource assignment. */
export const NVME_MAX_MSIX_QSIZE = 128;
export const NVME_DEFAULT_MDTS = 7;
export const NVME_DEFAULT_MQES = 0x7ff;
export const NVME_DEFAULT_AERL = 3;
/** Smallest BAR0: Windows' stornvme masks the BAR address with 0xFFFFC000. */
export const NVME_MIN_BAR0_SIZE = 16 * 1024;
/** Size of one MSI-X table entry. */
export const PCI_MSIX_ENTRY_SIZE = 16;
