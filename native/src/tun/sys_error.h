// A failed system call, carried from native code to a JS Error with `code` = errno name.
#pragma once
#include <string>

namespace ftcp_tun {

struct SysError {
  int err = 0;            // errno value (positive)
  std::string syscall;    // e.g. "open", "ioctl(TUNSETIFF)"
  std::string message;    // what failed, without the errno name (appended when thrown)
};

// "ENOENT" etc; "E<number>" when the C library has no name for it.
std::string ErrnoName(int err);

}  // namespace ftcp_tun
