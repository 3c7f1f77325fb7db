// Opens a TUN device (optionally inside a named network namespace), sets MTU and brings it up.
#pragma once
#include <string>
#include "sys_error.h"

namespace ftcp_tun {

// virtio_net_hdr_mrg_rxbuf size: the 10-byte virtio_net_hdr plus 2 bytes (num_buffers, unused
// here) so the IP header after it starts 4-byte aligned in our 8-aligned packet slots.
constexpr int kVnetHdrLen = 12;

struct TunConfig {
  std::string name;      // interface name, 1..15 bytes; may contain %d for a kernel-chosen number
  std::string netns;     // empty: the caller's namespace; else /var/run/netns/<netns>
  int mtu = 0;           // 0: leave the kernel default
  bool vnetHdr = false;  // IFF_VNET_HDR + TUNSETOFFLOAD (checksum + TSO)
  int txQueueLen = 0;    // 0: leave the kernel default (500)
};

struct TunOpened {
  int fd = -1;              // non-blocking, close-on-exec
  std::string name;         // the name the kernel gave the device
  int vnetHdrLen = 0;       // 0 without vnet header
  unsigned offloads = 0;    // TUN_F_* flags the kernel accepted
};

// Returns false and fills *error on failure (nothing is left open then).
bool OpenTun(const TunConfig& config, TunOpened* out, SysError* error);

}  // namespace ftcp_tun
