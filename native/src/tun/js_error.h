// JS errors built from errno values: `code` = errno name, `errno` = -err, `syscall`.
#pragma once
#include <napi.h>

#include <string>

namespace ftcp_tun {

Napi::Error MakeSysError(Napi::Env env, int err, const std::string& syscall, const std::string& message);

}  // namespace ftcp_tun
