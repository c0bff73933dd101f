// Block-device helpers (block_io.cc), exported by the vfu_sys addon as `blockIo`.
#pragma once

#include <napi.h>

Napi::Object InitBlockIo(Napi::Env env, Napi::Object exports);
