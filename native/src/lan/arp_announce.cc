// The VIP claim's two packets to the kernel, sent synchronously from the daemon itself: the
// gratuitous ARP from an AF_PACKET socket (CAP_NET_RAW), here, and the proxy-ARP entry by
// rtnetlink (proxy_neigh.cc) — instead of starting `arping` and `ip` and waiting for the event loop
// to see them run.
#include <napi.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "../tun/js_error.h"
#include "proxy_neigh.h"

namespace {

// The ARP payload of an RFC 5227 announcement: a request "who-has IP tell IP" from MAC.
void BuildAnnouncement(uint8_t out[28], const uint8_t mac[6], const uint8_t ip[4]) {
  const uint8_t head[8] = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};  // Ethernet, IPv4, request
  std::memcpy(out, head, 8);
  std::memcpy(out + 8, mac, 6);   // sender MAC
  std::memcpy(out + 14, ip, 4);   // sender IP
  std::memset(out + 18, 0, 6);    // target MAC: unknown
  std::memcpy(out + 24, ip, 4);   // target IP = sender IP
}

// openPacketSocket(): opens and closes an ARP packet socket; throws what the kernel said (EPERM
// without CAP_NET_RAW). The daemon's start-up check.
Napi::Value CheckPacketSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
  if (fd < 0) {
    ftcp_tun::MakeSysError(env, errno, "socket", "socket(AF_PACKET, ETH_P_ARP)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  close(fd);
  return env.Undefined();
}

// sendArpAnnouncement(ifindex, mac: Buffer(6), ip: Buffer(4)): one broadcast on that link.
Napi::Value SendArpAnnouncement(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsBuffer() || !info[2].IsBuffer() ||
      info[1].As<Napi::Buffer<uint8_t>>().Length() != 6 || info[2].As<Napi::Buffer<uint8_t>>().Length() != 4) {
    Napi::TypeError::New(env, "sendArpAnnouncement(ifindex, mac: 6-byte Buffer, ip: 4-byte Buffer)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int ifindex = info[0].As<Napi::Number>().Int32Value();
  uint8_t pkt[28];
  BuildAnnouncement(pkt, info[1].As<Napi::Buffer<uint8_t>>().Data(), info[2].As<Napi::Buffer<uint8_t>>().Data());
  int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
  if (fd < 0) {
    ftcp_tun::MakeSysError(env, errno, "socket", "socket(AF_PACKET, ETH_P_ARP)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct sockaddr_ll to;
  std::memset(&to, 0, sizeof to);
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons(ETH_P_ARP);
  to.sll_ifindex = ifindex;
  to.sll_halen = 6;
  std::memset(to.sll_addr, 0xff, 6);  // broadcast
  ssize_t n = sendto(fd, pkt, sizeof pkt, 0, reinterpret_cast<struct sockaddr*>(&to), sizeof to);
  const int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(sizeof pkt)) {
    ftcp_tun::MakeSysError(env, n < 0 ? err : EIO, "sendto", "sendto(gratuitous ARP)").ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("checkPacketSocket", Napi::Function::New(env, CheckPacketSocket));
  exports.Set("sendArpAnnouncement", Napi::Function::New(env, SendArpAnnouncement));
  exports.Set("addProxyNeigh", Napi::Function::New(env, ftcp_lan::AddProxyNeigh));
  exports.Set("delProxyNeigh", Napi::Function::New(env, ftcp_lan::DelProxyNeigh));
  return exports;
}

}  // namespace

NODE_API_MODULE(ftcp_lan, Init)
