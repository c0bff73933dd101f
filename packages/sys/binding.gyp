{
  "targets": [
    {
      "target_name": "vfu_sys",
      "sources": ["native/vfu_sys.cc", "native/guard.cc", "native/block_io.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    }
  ]
}
