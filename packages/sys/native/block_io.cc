// Block-device helpers that Node's fs module lacks, for @vfu/block: fallocate (hole punching and
// zeroing ranges) run on libuv's threadpool so the event loop never waits on the disk, and
// aligned buffers for O_DIRECT bounce copies.
//
// Linked into the one vfu_sys addon (a prebuilt package ships one binary), as its `blockIo` export;
// kept in its own file so the two evolve independently. Conventions are the same:
// syscall failures never throw; the promise resolves to 0 or a negative errno and the TypeScript
// layer builds the typed error.

#include <napi.h>

#include "block_io.h"

#ifdef __linux__

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>

#include <cstdint>

namespace {

int64_t ArgInt64(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "expected a number");
  return info[i].As<Napi::Number>().Int64Value();
}

// fallocate(2) on the threadpool; resolves with 0 or -errno.
class FallocateWork : public Napi::AsyncWorker {
 public:
  FallocateWork(Napi::Env env, int fd, int mode, int64_t offset, int64_t length)
      : Napi::AsyncWorker(env, "vfu.fallocate"),
        deferred_(Napi::Promise::Deferred::New(env)),
        fd_(fd),
        mode_(mode),
        offset_(offset),
        length_(length) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    int rc;
    do {
      rc = fallocate(fd_, mode_, offset_, length_);
    } while (rc < 0 && errno == EINTR);
    result_ = rc < 0 ? -errno : 0;
  }

  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), result_)); }

 private:
  Napi::Promise::Deferred deferred_;
  int fd_;
  int mode_;
  int64_t offset_;
  int64_t length_;
  int result_ = 0;
};

Napi::Value Fallocate(const Napi::CallbackInfo& info) {
  int fd = static_cast<int>(ArgInt64(info, 0));
  int mode = static_cast<int>(ArgInt64(info, 1));
  int64_t offset = ArgInt64(info, 2);
  int64_t length = ArgInt64(info, 3);
  auto* work = new FallocateWork(info.Env(), fd, mode, offset, length);
  Napi::Promise promise = work->Promise();
  work->Queue();
  return promise;
}

// An ArrayBuffer of `size` bytes aligned to `alignment` (a power of two), zero-filled, freed when
// collected. Returns -errno on failure.
Napi::Value AllocAligned(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t size = ArgInt64(info, 0);
  int64_t alignment = ArgInt64(info, 1);
  if (size <= 0 || alignment <= 0 || (alignment & (alignment - 1)) != 0) {
    return Napi::Number::New(env, -EINVAL);
  }
  void* p = nullptr;
  int rc = posix_memalign(&p, static_cast<size_t>(alignment), static_cast<size_t>(size));
  if (rc != 0) return Napi::Number::New(env, -rc);
  memset(p, 0, static_cast<size_t>(size));
  return Napi::ArrayBuffer::New(env, p, static_cast<size_t>(size), [](Napi::Env, void* data) { free(data); });
}

}  // namespace

Napi::Object InitBlockIo(Napi::Env env, Napi::Object exports) {
  exports.Set("platform", Napi::String::New(env, "linux"));
  exports.Set("FALLOC_FL_KEEP_SIZE", Napi::Number::New(env, FALLOC_FL_KEEP_SIZE));
  exports.Set("FALLOC_FL_PUNCH_HOLE", Napi::Number::New(env, FALLOC_FL_PUNCH_HOLE));
  exports.Set("FALLOC_FL_ZERO_RANGE", Napi::Number::New(env, FALLOC_FL_ZERO_RANGE));
  exports.Set("fallocate", Napi::Function::New(env, Fallocate));
  exports.Set("allocAligned", Napi::Function::New(env, AllocAligned));
  return exports;
}

#else

Napi::Object InitBlockIo(Napi::Env env, Napi::Object exports) {
  exports.Set("platform", Napi::String::New(env, "unsupported"));
  return exports;
}

#endif
