#include "js_error.h"

#include "sys_error.h"

namespace ftcp_tun {

Napi::Error MakeSysError(Napi::Env env, int err, const std::string& syscall, const std::string& message) {
  std::string name = ErrnoName(err);
  Napi::Error e = Napi::Error::New(env, message + ": " + name);
  e.Set("code", Napi::String::New(env, name));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

}  // namespace ftcp_tun
