// SIGBUS guard for memory shared with another process.
//
// A peer holding the fd behind one of our MAP_SHARED mappings can truncate the file; touching a
// page past the new end raises SIGBUS, which kills the process by default, and with it every
// other device and VM it serves. The guard absorbs such faults:
// - every mapping made for a peer's fd is registered in a lock-free registry of address ranges;
// - the SIGBUS handler looks the faulting address up; inside a registered range it maps anonymous
//   zero pages over the whole range (MAP_FIXED), marks the range poisoned and wakes the owning
//   instance's loop (uv_async_send, async-signal-safe), then returns, so the interrupted access
//   completes on the zero pages; JavaScript checks the poisoned word after each access and fails it;
// - any other SIGBUS goes to the handler that was installed before ours, or, if there was none,
//   kills the process as it would have without us: real bugs still crash.
//
// The handler is process-wide by nature (there is one SIGBUS disposition per process); everything
// else is per instance of the addon (see vfu_sys.cc). The registry is shared by all instances
// (worker threads included): fixed-size chunks of slots, allocated on demand and never freed, so
// the handler reads it with atomic loads only, never a lock or an allocation. mmap() is not on
// POSIX's async-signal-safe list, but on Linux it is a plain system call with no user-space state.
#include "guard.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include <atomic>
#include <mutex>

namespace vfu_guard {
namespace {

struct Slot {
  std::atomic<uintptr_t> start{0};
  // Nonzero while the slot describes a live range; written last when registering, first when not.
  std::atomic<uintptr_t> end{0};
  std::atomic<int32_t> poisoned{0};
  std::atomic<bool> used{false};
  std::atomic<uv_async_t*> notify{nullptr};
};

constexpr int kChunkSlots = 1024;
constexpr int kMaxChunks = 256;  // 262,144 guarded mappings, far above any fd limit

std::atomic<Slot*> g_chunks[kMaxChunks];
std::mutex g_grow;  // taken only by Register; never by the handler
std::atomic<int> g_hint{0};
std::atomic<uint64_t> g_absorbed{0};
struct sigaction g_previous;
std::once_flag g_installed;
int g_installError = 0;

Slot* SlotAt(int index) {
  Slot* chunk = g_chunks[index / kChunkSlots].load(std::memory_order_acquire);
  return chunk == nullptr ? nullptr : &chunk[index % kChunkSlots];
}

Slot* Find(uintptr_t addr) {
  for (int c = 0; c < kMaxChunks; c++) {
    Slot* chunk = g_chunks[c].load(std::memory_order_acquire);
    if (chunk == nullptr) return nullptr;
    for (int i = 0; i < kChunkSlots; i++) {
      Slot& s = chunk[i];
      uintptr_t end = s.end.load(std::memory_order_acquire);
      if (end != 0 && addr < end && addr >= s.start.load(std::memory_order_relaxed)) return &s;
    }
  }
  return nullptr;
}

// Hands the signal to whoever handled it before us; without one, restores the default action so
// the fault kills the process as it would have.
void Chain(int sig, siginfo_t* info, void* context) {
  if ((g_previous.sa_flags & SA_SIGINFO) != 0 && g_previous.sa_sigaction != nullptr) {
    g_previous.sa_sigaction(sig, info, context);
    return;
  }
  if ((g_previous.sa_flags & SA_SIGINFO) == 0 && g_previous.sa_handler != SIG_DFL &&
      g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGBUS, &dfl, nullptr);
  // A fault re-runs the access when we return and now dies of it; a sent signal must be re-sent.
  if (info == nullptr || info->si_code <= 0) raise(sig);
}

void OnSigbus(int sig, siginfo_t* info, void* context) {
  int savedErrno = errno;
  Slot* s = (info != nullptr && info->si_code > 0) ? Find(reinterpret_cast<uintptr_t>(info->si_addr)) : nullptr;
  if (s != nullptr) {
    uintptr_t start = s->start.load(std::memory_order_relaxed);
    uintptr_t end = s->end.load(std::memory_order_relaxed);
    void* r = mmap(reinterpret_cast<void*>(start), end - start, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    if (r != MAP_FAILED) {
      s->poisoned.store(1, std::memory_order_release);
      g_absorbed.fetch_add(1, std::memory_order_relaxed);
      uv_async_t* notify = s->notify.load(std::memory_order_acquire);
      if (notify != nullptr) uv_async_send(notify);
      errno = savedErrno;
      return;
    }
  }
  errno = savedErrno;
  Chain(sig, info, context);
}

}  // namespace

int Install() {
  std::call_once(g_installed, [] {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = OnSigbus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &g_previous) < 0) g_installError = -errno;
  });
  return g_installError;
}

int Register(void* addr, size_t length, uv_async_t* notify) {
  int total = kMaxChunks * kChunkSlots;
  int first = g_hint.load(std::memory_order_relaxed);
  for (int n = 0; n < total; n++) {
    int index = (first + n) % total;
    Slot* s = SlotAt(index);
    if (s == nullptr) {
      std::lock_guard<std::mutex> lock(g_grow);
      std::atomic<Slot*>& chunk = g_chunks[index / kChunkSlots];
      if (chunk.load(std::memory_order_acquire) == nullptr) chunk.store(new Slot[kChunkSlots], std::memory_order_release);
      s = SlotAt(index);
    }
    bool expected = false;
    if (!s->used.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) continue;
    s->poisoned.store(0, std::memory_order_relaxed);
    s->notify.store(notify, std::memory_order_relaxed);
    s->start.store(reinterpret_cast<uintptr_t>(addr), std::memory_order_relaxed);
    s->end.store(reinterpret_cast<uintptr_t>(addr) + length, std::memory_order_release);
    g_hint.store(index + 1, std::memory_order_relaxed);
    return index;
  }
  return -ENOSPC;
}

void Unregister(int slot) {
  Slot* s = SlotAt(slot);
  if (s == nullptr) return;
  s->end.store(0, std::memory_order_release);
  s->start.store(0, std::memory_order_relaxed);
  s->notify.store(nullptr, std::memory_order_relaxed);
  s->used.store(false, std::memory_order_release);
  int hint = g_hint.load(std::memory_order_relaxed);
  if (slot < hint) g_hint.store(slot, std::memory_order_relaxed);
}

void ForgetNotify(uv_async_t* notify) {
  for (int c = 0; c < kMaxChunks; c++) {
    Slot* chunk = g_chunks[c].load(std::memory_order_acquire);
    if (chunk == nullptr) return;
    for (int i = 0; i < kChunkSlots; i++) {
      uv_async_t* expected = notify;
      chunk[i].notify.compare_exchange_strong(expected, nullptr);
    }
  }
}

int32_t* PoisonWord(int slot) {
  static_assert(sizeof(std::atomic<int32_t>) == sizeof(int32_t), "poisoned word must be a plain int32");
  return reinterpret_cast<int32_t*>(&SlotAt(slot)->poisoned);
}

uint64_t FaultsAbsorbed() { return g_absorbed.load(std::memory_order_relaxed); }

}  // namespace vfu_guard
