// Native primitives for @vfu/sys: UNIX stream sockets with SCM_RIGHTS, mmap of file descriptors,
// memfd, eventfd and readiness polling on Node's libuv loop.
//
// Conventions: syscall failures never throw; functions return a negative errno and the TypeScript
// layer turns it into a typed SysError (one place builds error objects, and the hot paths do not
// pay for C++ exception unwinding). Only wrong argument types throw, as TypeError: the TypeScript
// wrapper validates arguments before calling, so those indicate a bug in the wrapper.

#include <napi.h>

#include "block_io.h"
#include "guard.h"

#ifdef __linux__

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

namespace {

// Returned by recvmsg when the kernel truncated the control data (MSG_CTRUNC): more fds arrived
// than even the largest control buffer holds. Distinct from every errno.
constexpr int kControlTruncated = -0x10000;

// The kernel's per-message cap on SCM_RIGHTS fds (SCM_MAX_FD). The receive control buffer is sized
// for it so that excess fds are received and closed here, not silently dropped with MSG_CTRUNC.
constexpr int kScmMaxFd = 253;

// Upper bound on iovecs per sendmsg; a vfio-user message is a header plus one or two payload parts.
constexpr size_t kMaxIov = 64;

int NegErrno() { return -errno; }

int32_t ArgInt(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "expected a number");
  return info[i].As<Napi::Number>().Int32Value();
}

int64_t ArgInt64(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "expected a number");
  return info[i].As<Napi::Number>().Int64Value();
}

// A byte range of a Uint8Array (or any TypedArray/DataView viewed as bytes).
struct ByteView {
  uint8_t* data;
  size_t length;
};

ByteView ArgBytes(Napi::Env env, Napi::Value v) {
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    Napi::ArrayBuffer ab = ta.ArrayBuffer();
    return {static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset(), ta.ByteLength()};
  }
  throw Napi::TypeError::New(env, "expected a Uint8Array");
}

bool FillSockaddr(const std::string& path, sockaddr_un* addr, socklen_t* len) {
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  // Keep room for the terminating NUL so the kernel and every peer see the same path.
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) return false;
  memcpy(addr->sun_path, path.data(), path.size());
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return true;
}

// ---- sockets ---------------------------------------------------------------------------------

Napi::Value Socket(const Napi::CallbackInfo& info) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  return Napi::Number::New(info.Env(), fd < 0 ? NegErrno() : fd);
}

Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
    return Napi::Number::New(env, NegErrno());
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(uint32_t(0), Napi::Number::New(env, sv[0]));
  out.Set(uint32_t(1), Napi::Number::New(env, sv[1]));
  return out;
}

Napi::Value Bind(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0);
  std::string path = info[1].As<Napi::String>().Utf8Value();
  sockaddr_un addr;
  socklen_t len;
  if (!FillSockaddr(path, &addr, &len)) return Napi::Number::New(info.Env(), -ENAMETOOLONG);
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), len);
  return Napi::Number::New(info.Env(), rc < 0 ? NegErrno() : 0);
}

Napi::Value Listen(const Napi::CallbackInfo& info) {
  int rc = listen(ArgInt(info, 0), ArgInt(info, 1));
  return Napi::Number::New(info.Env(), rc < 0 ? NegErrno() : 0);
}

Napi::Value Accept(const Napi::CallbackInfo& info) {
  int fd;
  do {
    fd = accept4(ArgInt(info, 0), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  return Napi::Number::New(info.Env(), fd < 0 ? NegErrno() : fd);
}

Napi::Value Connect(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0);
  std::string path = info[1].As<Napi::String>().Utf8Value();
  sockaddr_un addr;
  socklen_t len;
  if (!FillSockaddr(path, &addr, &len)) return Napi::Number::New(info.Env(), -ENAMETOOLONG);
  int rc;
  do {
    rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), len);
  } while (rc < 0 && errno == EINTR);
  return Napi::Number::New(info.Env(), rc < 0 ? NegErrno() : 0);
}

Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  int rc = shutdown(ArgInt(info, 0), ArgInt(info, 1));
  return Napi::Number::New(info.Env(), rc < 0 ? NegErrno() : 0);
}

// Puts an adopted fd into the mode every socket here runs in: non-blocking, close-on-exec.
Napi::Value SetNonBlocking(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0);
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return Napi::Number::New(info.Env(), NegErrno());
  int fdfl = fcntl(fd, F_GETFD);
  if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0) return Napi::Number::New(info.Env(), NegErrno());
  return Napi::Number::New(info.Env(), 0);
}

// Returns the socket type (SOCK_STREAM...) and domain packed as type | domain << 8, or -errno.
Napi::Value SocketKind(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0);
  int type = 0, domain = 0;
  socklen_t len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return Napi::Number::New(info.Env(), NegErrno());
  len = sizeof(domain);
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) return Napi::Number::New(info.Env(), NegErrno());
  return Napi::Number::New(info.Env(), type | (domain << 8));
}

// sendmsg(fd, buffers: Uint8Array[], fds: number[]) -> bytes written | -errno.
// The fds travel with the first byte written, as vfio-user peers expect them with the header.
Napi::Value SendMsg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0);
  if (!info[1].IsArray() || !info[2].IsArray()) throw Napi::TypeError::New(env, "expected arrays");
  Napi::Array bufs = info[1].As<Napi::Array>();
  Napi::Array fdArr = info[2].As<Napi::Array>();
  uint32_t nbufs = bufs.Length();
  uint32_t nfds = fdArr.Length();
  if (nbufs > kMaxIov) return Napi::Number::New(env, -EINVAL);
  if (nfds > static_cast<uint32_t>(kScmMaxFd)) return Napi::Number::New(env, -EINVAL);

  iovec iov[kMaxIov];
  for (uint32_t i = 0; i < nbufs; i++) {
    ByteView b = ArgBytes(env, bufs.Get(i));
    iov[i].iov_base = b.data;
    iov[i].iov_len = b.length;
  }
  msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = iov;
  msg.msg_iovlen = nbufs;

  std::vector<char> control;
  if (nfds > 0) {
    control.assign(CMSG_SPACE(sizeof(int) * nfds), 0);
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    int* out = reinterpret_cast<int*>(CMSG_DATA(cmsg));
    for (uint32_t i = 0; i < nfds; i++) {
      Napi::Value v = fdArr.Get(i);
      if (!v.IsNumber()) throw Napi::TypeError::New(env, "expected fd numbers");
      out[i] = v.As<Napi::Number>().Int32Value();
    }
  }
  ssize_t n;
  do {
    // MSG_NOSIGNAL: a dead peer is an EPIPE return, not a process-killing SIGPIPE.
    n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  return Napi::Number::New(env, n < 0 ? NegErrno() : static_cast<double>(n));
}

// recvmsg(fd, buffer: Uint8Array, maxFds, meta: Int32Array) -> bytes | -errno | kControlTruncated.
// meta[0] = fds kept, meta[1] = fds closed because they exceeded maxFds, meta[2..] = kept fds.
Napi::Value RecvMsg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0);
  ByteView buf = ArgBytes(env, info[1]);
  int maxFds = ArgInt(info, 2);
  if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw Napi::TypeError::New(env, "expected an Int32Array");
  }
  Napi::Int32Array meta = info[3].As<Napi::Int32Array>();
  if (maxFds < 0) maxFds = 0;
  if (static_cast<size_t>(maxFds) + 2 > meta.ElementLength()) {
    throw Napi::RangeError::New(env, "meta array too small for maxFds");
  }
  meta[0] = 0;
  meta[1] = 0;

  iovec iov = {buf.data, buf.length};
  // Room for a full SCM_RIGHTS list plus SCM_CREDENTIALS (present if SO_PASSCRED is ever set),
  // so MSG_CTRUNC only reports a kernel that exceeds its own documented limits.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kScmMaxFd) + CMSG_SPACE(sizeof(struct ucred))];
  msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Napi::Number::New(env, NegErrno());

  int kept = 0, dropped = 0;
  bool truncated = (msg.msg_flags & MSG_CTRUNC) != 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const int* fds = reinterpret_cast<const int*>(CMSG_DATA(c));
    for (size_t i = 0; i < count; i++) {
      int rfd;
      memcpy(&rfd, fds + i, sizeof(int));
      if (!truncated && kept < maxFds) {
        meta[2 + kept] = rfd;
        kept++;
      } else {
        close(rfd);
        dropped++;
      }
    }
  }
  if (truncated) {
    meta[0] = 0;
    meta[1] = dropped;
    return Napi::Number::New(env, kControlTruncated);
  }
  meta[0] = kept;
  meta[1] = dropped;
  return Napi::Number::New(env, static_cast<double>(n));
}

// ---- plain fds, memfd, eventfd -----------------------------------------------------------------

Napi::Value Close(const Napi::CallbackInfo& info) {
  // No EINTR retry: on Linux the fd is released even when close() reports EINTR.
  int rc = close(ArgInt(info, 0));
  return Napi::Number::New(info.Env(), rc < 0 ? NegErrno() : 0);
}

Napi::Value Dup(const Napi::CallbackInfo& info) {
  int fd = fcntl(ArgInt(info, 0), F_DUPFD_CLOEXEC, 3);
  return Napi::Number::New(info.Env(), fd < 0 ? NegErrno() : fd);
}

Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  bool allowSealing = info[1].ToBoolean();
  unsigned flags = MFD_CLOEXEC | (allowSealing ? MFD_ALLOW_SEALING : 0);
  int fd = memfd_create(name.c_str(), flags);
  return Napi::Number::New(info.Env(), fd < 0 ? NegErrno() : fd);
}

Napi::Value Ftruncate(const Napi::CallbackInfo& info) {
  int rc;
  do {
    rc = ftruncate(ArgInt(info, 0), static_cast<off_t>(ArgInt64(info, 1)));
  } while (rc < 0 && errno == EINTR);
  return Napi::Number::New(info.Env(), rc < 0 ? NegErrno() : 0);
}

// fstat(fd) -> [size, mode] | -errno
Napi::Value Fstat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct stat st;
  if (fstat(ArgInt(info, 0), &st) < 0) return Napi::Number::New(env, NegErrno());
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(uint32_t(0), Napi::Number::New(env, static_cast<double>(st.st_size)));
  out.Set(uint32_t(1), Napi::Number::New(env, static_cast<double>(st.st_mode)));
  return out;
}

Napi::Value AccessMode(const Napi::CallbackInfo& info) {
  int fl = fcntl(ArgInt(info, 0), F_GETFL);
  return Napi::Number::New(info.Env(), fl < 0 ? NegErrno() : (fl & O_ACCMODE));
}

Napi::Value AddSeals(const Napi::CallbackInfo& info) {
  int rc = fcntl(ArgInt(info, 0), F_ADD_SEALS, ArgInt(info, 1));
  return Napi::Number::New(info.Env(), rc < 0 ? NegErrno() : 0);
}

Napi::Value GetSeals(const Napi::CallbackInfo& info) {
  int rc = fcntl(ArgInt(info, 0), F_GET_SEALS);
  return Napi::Number::New(info.Env(), rc < 0 ? NegErrno() : rc);
}

Napi::Value EventFdCreate(const Napi::CallbackInfo& info) {
  unsigned initval = static_cast<unsigned>(ArgInt64(info, 0));
  bool semaphore = info[1].ToBoolean();
  int fd = eventfd(initval, EFD_NONBLOCK | EFD_CLOEXEC | (semaphore ? EFD_SEMAPHORE : 0));
  return Napi::Number::New(info.Env(), fd < 0 ? NegErrno() : fd);
}

// eventfdRead(fd) -> bigint counter | -errno (number; -EAGAIN when the counter is zero)
Napi::Value EventFdRead(const Napi::CallbackInfo& info) {
  uint64_t value = 0;
  ssize_t n;
  do {
    n = read(ArgInt(info, 0), &value, sizeof(value));
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Napi::Number::New(info.Env(), NegErrno());
  if (n != sizeof(value)) return Napi::Number::New(info.Env(), -EIO);
  return Napi::BigInt::New(info.Env(), value);
}

// eventfdWrite(fd, value: bigint) -> 0 | -errno (-EAGAIN when the counter would overflow)
Napi::Value EventFdWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[1].IsBigInt()) throw Napi::TypeError::New(env, "expected a bigint");
  bool lossless = false;
  uint64_t value = info[1].As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) return Napi::Number::New(env, -EINVAL);
  ssize_t n;
  do {
    n = write(ArgInt(info, 0), &value, sizeof(value));
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Napi::Number::New(env, NegErrno());
  return Napi::Number::New(env, 0);
}

Napi::Value StrError(const Napi::CallbackInfo& info) {
  char buf[256];
  // GNU strerror_r returns a pointer that may or may not be buf.
  const char* msg = strerror_r(ArgInt(info, 0), buf, sizeof(buf));
  return Napi::String::New(info.Env(), msg);
}

Napi::Value PageSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(sysconf(_SC_PAGESIZE)));
}

// ---- mmap ------------------------------------------------------------------------------------

struct MappingState;

// Per-instance state of the addon (one per Node environment: the main thread and each worker), as
// Node-API instance data. It owns the loop handle through which the SIGBUS guard wakes this
// environment, and the guarded mappings whose owners must hear of a poisoned mapping.
struct Instance {
  napi_env env = nullptr;
  uv_async_t* async = nullptr;
  bool closing = false;
  std::vector<std::weak_ptr<MappingState>> guarded;
};
using InstanceRef = std::shared_ptr<Instance>;

// One native mapping. JavaScript sees it through windows: external ArrayBuffers over sub-ranges, so
// a mapping larger than the largest ArrayBuffer (4 GiB on Node 20) is still reachable. The handle and
// every window each hold a reference; the mapping is unmapped by an explicit munmap or when the last
// reference goes, whichever comes first.
struct MappingState {
  void* addr = nullptr;
  size_t length = 0;
  bool live = false;
  // Guarded mappings: the registry slot, the instance to notify and the owner's callback (held
  // weakly: the JavaScript owner keeps it alive, and a strong reference would keep the owner alive
  // through its own handle).
  int slot = -1;
  InstanceRef instance;
  napi_ref onPoisoned = nullptr;
  bool reported = false;

  void Unmap() {
    if (live) {
      // Out of the registry first: after munmap the range may be reused by anything.
      if (slot >= 0) vfu_guard::Unregister(slot);
      slot = -1;
      munmap(addr, length);
      live = false;
    }
  }
  ~MappingState() {
    Unmap();
    if (onPoisoned != nullptr && instance && !instance->closing) napi_delete_reference(instance->env, onPoisoned);
  }
};
using MappingRef = std::shared_ptr<MappingState>;

void FinalizeMappingRef(napi_env, void* data, void*) { delete static_cast<MappingRef*>(data); }

// Runs on the instance's loop after the SIGBUS handler absorbed a fault: tells the owner of each
// newly poisoned mapping, once.
void OnPoisonAsync(uv_async_t* handle) {
  auto* instance = static_cast<Instance*>(handle->data);
  if (instance == nullptr || instance->closing) return;
  Napi::Env env(instance->env);
  Napi::HandleScope scope(env);
  std::vector<MappingRef> poisoned;
  auto& list = instance->guarded;
  list.erase(std::remove_if(list.begin(), list.end(), [](const std::weak_ptr<MappingState>& w) { return w.expired(); }),
             list.end());
  for (auto& w : list) {
    MappingRef m = w.lock();
    if (m && m->slot >= 0 && !m->reported && *vfu_guard::PoisonWord(m->slot) != 0) poisoned.push_back(m);
  }
  for (auto& m : poisoned) {
    m->reported = true;
    napi_value fn = nullptr;
    if (m->onPoisoned == nullptr || napi_get_reference_value(instance->env, m->onPoisoned, &fn) != napi_ok ||
        fn == nullptr) {
      continue;
    }
    try {
      Napi::Function(env, fn).MakeCallback(env.Global(), {});
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
    }
  }
}

void FinalizeInstance(napi_env, void* data, void*) {
  auto* ref = static_cast<InstanceRef*>(data);
  Instance* instance = ref->get();
  instance->closing = true;
  if (instance->async != nullptr) {
    vfu_guard::ForgetNotify(instance->async);
    instance->async->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(instance->async),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
    instance->async = nullptr;
  }
  delete ref;
}

InstanceRef GetInstance(napi_env env) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) != napi_ok || data == nullptr) return nullptr;
  return *static_cast<InstanceRef*>(data);
}

// Makes the instance's loop handle and the process's SIGBUS handler, once each. 0 or -errno.
int PrepareGuard(Instance* instance) {
  int rc = vfu_guard::Install();
  if (rc < 0) return rc;
  if (instance->async != nullptr) return 0;
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(instance->env, &loop) != napi_ok || loop == nullptr) return -EINVAL;
  auto* async = new uv_async_t;
  rc = uv_async_init(loop, async, OnPoisonAsync);
  if (rc < 0) {
    delete async;
    return rc;
  }
  async->data = instance;
  // A guard must not keep the process alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(async));
  instance->async = async;
  return 0;
}

MappingState* ArgMapping(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsExternal()) throw Napi::TypeError::New(info.Env(), "bad mapping handle");
  return info[i].As<Napi::External<MappingRef>>().Data()->get();
}

// mmap(fd, offset, length, shared: bool, onPoisoned?: function) -> handle | -errno
// With onPoisoned the mapping is guarded (see guard.cc): a SIGBUS inside it is absorbed, its poison
// word (poisonWord) becomes 1, and onPoisoned is called on the loop. -ENOSPC when the guard's
// registry is full.
// shared: MAP_SHARED read-write. Otherwise MAP_PRIVATE read-write (copy-on-write), so a JavaScript
// store into a mapping of a read-only fd lands in a private page instead of faulting.
//
// Ownership on every path: the mapping belongs to `state` from the moment it exists, so any early
// return unmaps it exactly once (the destructor). The handle's reference is handed to Node only by
// napi_create_external, which either takes it (and finalizes it later) or fails before taking it.
Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0);
  int64_t offset = ArgInt64(info, 1);
  int64_t length = ArgInt64(info, 2);
  bool shared = info[3].ToBoolean();
  if (offset < 0 || length <= 0) return Napi::Number::New(env, -EINVAL);
  // Never map past the end of the file: touching such a page raises SIGBUS.
  struct stat st;
  if (fstat(fd, &st) < 0) return Napi::Number::New(env, NegErrno());
  if (offset + length > st.st_size) return Napi::Number::New(env, -ERANGE);
  MappingRef state = std::make_shared<MappingState>();
  void* addr = mmap(nullptr, static_cast<size_t>(length), PROT_READ | PROT_WRITE,
                    shared ? MAP_SHARED : MAP_PRIVATE, fd, static_cast<off_t>(offset));
  if (addr == MAP_FAILED) return Napi::Number::New(env, NegErrno());
  state->addr = addr;
  state->length = static_cast<size_t>(length);
  state->live = true;
  if (info[4].IsFunction()) {
    InstanceRef instance = GetInstance(env);
    if (!instance) return Napi::Number::New(env, -EINVAL);
    int rc = PrepareGuard(instance.get());
    if (rc < 0) return Napi::Number::New(env, rc);
    int slot = vfu_guard::Register(addr, state->length, instance->async);
    if (slot < 0) return Napi::Number::New(env, slot);
    state->slot = slot;
    state->instance = instance;
    if (napi_create_reference(env, info[4], 0, &state->onPoisoned) != napi_ok) {
      state->onPoisoned = nullptr;
      return Napi::Number::New(env, -ENOMEM);
    }
    instance->guarded.push_back(state);
  }

  auto* ref = new MappingRef(state);
  napi_value handle;
  if (napi_create_external(env, ref, FinalizeMappingRef, nullptr, &handle) != napi_ok) {
    delete ref;
    return Napi::Number::New(env, -ENOMEM);
  }
  return Napi::Value(env, handle);
}

// mapWindow(handle, offset, length) -> ArrayBuffer over [offset, offset + length) | -errno
// The buffer itself owns nothing (no finalize callback, so no path of Node's can free anything
// twice); a finalizer attached afterwards holds the mapping alive while the buffer lives.
// Cost: V8 counts each ArrayBuffer's bytes as external memory and runs a full GC when that count
// jumps, so every large window costs about one mark-sweep (a few ms); callers use few, large ones.
Napi::Value MapWindow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MappingRef* ref = info[0].IsExternal() ? info[0].As<Napi::External<MappingRef>>().Data() : nullptr;
  if (ref == nullptr) throw Napi::TypeError::New(env, "bad mapping handle");
  int64_t offset = ArgInt64(info, 1);
  int64_t length = ArgInt64(info, 2);
  MappingState* s = ref->get();
  if (!s->live) return Napi::Number::New(env, -EBADF);
  if (offset < 0 || length <= 0 || static_cast<uint64_t>(offset) + static_cast<uint64_t>(length) > s->length) {
    return Napi::Number::New(env, -EINVAL);
  }
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, static_cast<uint8_t*>(s->addr) + offset, static_cast<size_t>(length),
                                       nullptr, nullptr, &buffer) != napi_ok) {
    // Too large for one ArrayBuffer on this Node (or out of memory); nothing was handed over.
    return Napi::Number::New(env, -EOVERFLOW);
  }
  auto* keep = new MappingRef(*ref);
  if (napi_add_finalizer(env, buffer, keep, FinalizeMappingRef, nullptr, nullptr) != napi_ok) {
    // Not attached, so it will never run: release here. The buffer is dropped unreturned and owns
    // nothing itself.
    delete keep;
    return Napi::Number::New(env, -ENOMEM);
  }
  return Napi::Value(env, buffer);
}

// poisonWord(handle) -> ArrayBuffer of 4 bytes over the mapping's poison word (an int32: 0, or 1
// once a fault was absorbed), or undefined for an unguarded mapping. The word outlives the mapping.
Napi::Value PoisonWord(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MappingState* s = ArgMapping(info, 0);
  if (s->slot < 0) return env.Undefined();
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, vfu_guard::PoisonWord(s->slot), sizeof(int32_t), nullptr, nullptr,
                                       &buffer) != napi_ok) {
    return Napi::Number::New(env, -ENOMEM);
  }
  return Napi::Value(env, buffer);
}

// guardFaults() -> SIGBUS faults absorbed by the guard since the process started.
Napi::Value GuardFaults(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(vfu_guard::FaultsAbsorbed()));
}

// munmap(handle, buffers: ArrayBuffer[]) -> 0. Detaches every window first so no view can reach
// the unmapped pages.
Napi::Value Munmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MappingState* s = ArgMapping(info, 0);
  if (!info[1].IsArray()) throw Napi::TypeError::New(env, "expected an array of buffers");
  Napi::Array buffers = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < buffers.Length(); i++) {
    Napi::Value v = buffers.Get(i);
    if (!v.IsArrayBuffer()) throw Napi::TypeError::New(env, "expected an ArrayBuffer");
    Napi::ArrayBuffer buffer = v.As<Napi::ArrayBuffer>();
    if (!buffer.IsDetached()) buffer.Detach();
  }
  s->Unmap();
  return Napi::Number::New(env, 0);
}

// ---- readiness polling -------------------------------------------------------------------------

// A uv_poll_t on Node's loop. The callback is (status, events) with `this` set to the Poll object.
// While started, the object holds a strong reference to itself so it cannot be collected while the
// loop may still call it.
class Poll : public Napi::ObjectWrap<Poll> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Poll",
                       {InstanceMethod("start", &Poll::Start), InstanceMethod("stop", &Poll::Stop),
                        InstanceMethod("close", &Poll::Close), InstanceMethod("ref", &Poll::RefHandle),
                        InstanceMethod("unref", &Poll::UnrefHandle)});
  }

  explicit Poll(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Poll>(info) {
    Napi::Env env = info.Env();
    int fd = ArgInt(info, 0);
    if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "expected a callback");
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      throw Napi::Error::New(env, "no event loop");
    }
    handle_ = new uv_poll_t;
    int rc = uv_poll_init(loop, handle_, fd);
    if (rc < 0) {
      delete handle_;
      handle_ = nullptr;
      Napi::Error err = Napi::Error::New(env, uv_strerror(rc));
      err.Set("errno", Napi::Number::New(env, -rc));
      throw err;
    }
    handle_->data = this;
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    context_ = std::make_unique<Napi::AsyncContext>(env, "vfu.Poll");
  }

  ~Poll() override { CloseHandle(); }

 private:
  static void OnPoll(uv_poll_t* handle, int status, int events) {
    Poll* self = static_cast<Poll*>(handle->data);
    if (self == nullptr) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    try {
      // MakeCallback (not Call) so promise jobs and nextTicks queued by the callback run after it.
      self->callback_.MakeCallback(self->Value(), {Napi::Number::New(env, status), Napi::Number::New(env, events)},
                                   *self->context_);
    } catch (const Napi::Error& e) {
      // Surface it as an uncaught exception, as Node does for any event callback that throws.
      napi_fatal_exception(env, e.Value());
    }
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    if (handle_ == nullptr) return Napi::Number::New(info.Env(), -EBADF);
    int rc = uv_poll_start(handle_, ArgInt(info, 0), &Poll::OnPoll);
    if (rc < 0) return Napi::Number::New(info.Env(), rc);
    if (!active_) {
      Ref();
      active_ = true;
    }
    return Napi::Number::New(info.Env(), 0);
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopHandle();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    StopHandle();
    CloseHandle();
    return info.Env().Undefined();
  }

  Napi::Value RefHandle(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(handle_));
    return info.Env().Undefined();
  }

  Napi::Value UnrefHandle(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
    return info.Env().Undefined();
  }

  void StopHandle() {
    if (handle_ != nullptr) uv_poll_stop(handle_);
    if (active_) {
      active_ = false;
      Unref();
    }
  }

  void CloseHandle() {
    if (handle_ == nullptr) return;
    handle_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(handle_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    handle_ = nullptr;
  }

  uv_poll_t* handle_ = nullptr;
  bool active_ = false;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* instance = new InstanceRef(std::make_shared<Instance>());
  (*instance)->env = env;
  if (napi_set_instance_data(env, instance, FinalizeInstance, nullptr) != napi_ok) {
    delete instance;
    throw Napi::Error::New(env, "cannot set the addon's instance data");
  }
  exports.Set("platform", Napi::String::New(env, "linux"));
  exports.Set("CONTROL_TRUNCATED", Napi::Number::New(env, kControlTruncated));
  exports.Set("SCM_MAX_FD", Napi::Number::New(env, kScmMaxFd));
  exports.Set("socket", Napi::Function::New(env, Socket));
  exports.Set("socketpair", Napi::Function::New(env, SocketPair));
  exports.Set("bind", Napi::Function::New(env, Bind));
  exports.Set("listen", Napi::Function::New(env, Listen));
  exports.Set("accept", Napi::Function::New(env, Accept));
  exports.Set("connect", Napi::Function::New(env, Connect));
  exports.Set("shutdown", Napi::Function::New(env, Shutdown));
  exports.Set("setNonBlocking", Napi::Function::New(env, SetNonBlocking));
  exports.Set("socketKind", Napi::Function::New(env, SocketKind));
  exports.Set("sendmsg", Napi::Function::New(env, SendMsg));
  exports.Set("recvmsg", Napi::Function::New(env, RecvMsg));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("dup", Napi::Function::New(env, Dup));
  exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate));
  exports.Set("ftruncate", Napi::Function::New(env, Ftruncate));
  exports.Set("fstat", Napi::Function::New(env, Fstat));
  exports.Set("accessMode", Napi::Function::New(env, AccessMode));
  exports.Set("addSeals", Napi::Function::New(env, AddSeals));
  exports.Set("getSeals", Napi::Function::New(env, GetSeals));
  exports.Set("eventfd", Napi::Function::New(env, EventFdCreate));
  exports.Set("eventfdRead", Napi::Function::New(env, EventFdRead));
  exports.Set("eventfdWrite", Napi::Function::New(env, EventFdWrite));
  exports.Set("strerror", Napi::Function::New(env, StrError));
  exports.Set("pageSize", Napi::Function::New(env, PageSize));
  exports.Set("mmap", Napi::Function::New(env, Mmap));
  exports.Set("mapWindow", Napi::Function::New(env, MapWindow));
  exports.Set("munmap", Napi::Function::New(env, Munmap));
  exports.Set("poisonWord", Napi::Function::New(env, PoisonWord));
  exports.Set("guardFaults", Napi::Function::New(env, GuardFaults));
  exports.Set("Poll", Poll::Init(env));
  exports.Set("blockIo", InitBlockIo(env, Napi::Object::New(env)));
  return exports;
}

}  // namespace

#else  // !__linux__

namespace {
// Other platforms get a module that only names itself, so installing succeeds and the TypeScript
// layer reports a clear "unsupported platform" error when a primitive is used.
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("platform", Napi::String::New(env, "unsupported"));
  exports.Set("blockIo", InitBlockIo(env, Napi::Object::New(env)));
  return exports;
}
}  // namespace

#endif

NODE_API_MODULE(vfu_sys, Init)
