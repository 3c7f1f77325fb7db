#include "sys_error.h"

#include <string.h>

namespace ftcp_tun {

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? std::string(name) : "E" + std::to_string(err);
}

}  // namespace ftcp_tun
