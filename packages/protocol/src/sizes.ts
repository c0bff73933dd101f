/**
 * Sizes of the fixed structs of vfio-user payloads, named after the spec's C structs. Callers
 * that fill in `argsz` or size a buffer use these rather than bare numbers, so the layout is
 * known in one place (the codecs in `commands/`).
 */
import { HEADER_SIZE } from './header';

/** Fixed struct sizes in bytes (payload only, the 16-byte header excluded). */
export const StructSize = {
  /** `struct vfio_user_version` without its JSON capabilities. */
  Version: 4,
  /** `struct vfio_user_dma_map`. */
  DmaMap: 32,
  /** `struct vfio_user_dma_unmap` without a dirty bitmap. */
  DmaUnmap: 24,
  /** `struct vfio_device_info` as vfio-user sends it (no `cap_offset`). */
  DeviceInfo: 16,
  /** `struct vfio_region_info`, capabilities excluded. */
  RegionInfo: 32,
  /** `struct vfio_region_info_cap_sparse_mmap` without its areas (capability header included). */
  SparseMmapCap: 16,
  /** One `struct vfio_region_sparse_mmap_area`. */
  SparseMmapArea: 16,
  /** `struct vfio_region_info_cap_type` (capability header included). */
  TypeCap: 16,
  /** `struct vfio_user_region_io_fds_reply` without its sub-regions. */
  RegionIoFds: 16,
  /** `struct vfio_irq_info`. */
  IrqInfo: 16,
  /** `struct vfio_irq_set` without its data. */
  IrqSet: 20,
  /** `struct vfio_user_region_access` without its data: offset, region, count. */
  RegionAccess: 16,
  /** `struct vfio_user_dma_region_access` without its data: address, count. */
  DmaAccess: 16,
  /** `struct vfio_user_device_feature` without its data: argsz, flags. */
  DeviceFeature: 8,
  /** `struct vfio_device_feature_dma_logging_report` without the bitmap: iova, length, page_size. */
  DmaLoggingReport: 24,
  /** The `wr_cnt` that opens a REGION_WRITE_MULTI request and is its whole reply. */
  WriteMultipleCount: 8,
  /** One `struct vfio_user_write_multiple_data` entry. */
  WriteMultipleEntry: 24,
} as const;

/** Most entries in one REGION_WRITE_MULTI (QEMU's `VFIO_USER_MULTI_MAX`). */
export const REGION_WRITE_MULTI_MAX_ENTRIES = 200;

/**
 * Size of the largest message carrying `dataXferSize` bytes of region or DMA data: header, the
 * access struct, then the data (libvfio-user's `max_data_xfer_size + 32` rule).
 */
export function dataMessageSize(dataXferSize: number): number {
  return HEADER_SIZE + StructSize.RegionAccess + dataXferSize;
}
