// Proxy-ARP entries by rtnetlink (proxy_neigh.cc).
#pragma once
#include <napi.h>

namespace ftcp_lan {

// addProxyNeigh(ifindex, ip: Buffer(4)) / delProxyNeigh(ifindex, ip): throw with the errno.
Napi::Value AddProxyNeigh(const Napi::CallbackInfo& info);
Napi::Value DelProxyNeigh(const Napi::CallbackInfo& info);

}  // namespace ftcp_lan
