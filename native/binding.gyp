{
  "targets": [
    {
      "target_name": "ftcp_tun",
      "sources": ["src/tun/addon.cc", "src/tun/tun_open.cc", "src/tun/batch_reader.cc", "src/tun/write_behind.cc", "src/tun/loop_reader.cc", "src/tun/js_error.cc", "src/tun/sys_error.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"]
    },
    {
      "target_name": "ftcp_crc32c",
      "sources": ["src/crc32c/addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"]
    },
    {
      "target_name": "ftcp_lan",
      "sources": ["src/lan/arp_announce.cc", "src/lan/proxy_neigh.cc", "src/tun/js_error.cc", "src/tun/sys_error.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"]
    },
    {
      "target_name": "ftcp_sockinfo",
      "sources": ["src/sockinfo/addon.cc", "src/sockinfo/listen_diag.cc", "src/tun/js_error.cc", "src/tun/sys_error.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}
