// SIGBUS guard for memory shared with another process (see guard.cc).
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>

namespace vfu_guard {

// Installs the process-wide SIGBUS handler once (later calls do nothing). 0 or -errno.
int Install();

// Registers [addr, addr + length) as guarded; `notify` (may be null) is signalled with
// uv_async_send when a fault there is absorbed. Returns a slot number >= 0, or -ENOSPC when the
// registry is full.
int Register(void* addr, size_t length, uv_async_t* notify);

// Forgets a slot (before its range is unmapped).
void Unregister(int slot);

// Clears the notify handle of every slot that names it (an instance going away).
void ForgetNotify(uv_async_t* notify);

// The slot's poisoned word: 0, or 1 once a fault in the range was absorbed. Lives for the whole
// process (slots are never freed), so a view of it can never dangle.
int32_t* PoisonWord(int slot);

// Faults absorbed since the process started.
uint64_t FaultsAbsorbed();

}  // namespace vfu_guard
