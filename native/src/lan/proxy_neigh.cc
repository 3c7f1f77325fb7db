// The VIP's proxy-ARP entry (`ip neigh add|del proxy VIP dev LANIF`) by one rtnetlink request:
// the claim adds it synchronously, without forking the daemon's large process for `ip`.
#include "proxy_neigh.h"

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "../tun/js_error.h"

namespace ftcp_lan {

namespace {

// Sends one RTM_NEWNEIGH / RTM_DELNEIGH for a proxy entry and reads the kernel's answer; 0 or errno.
int ProxyNeighRequest(int type, int ifindex, const uint8_t ip[4]) {
  struct {
    struct nlmsghdr nh;
    struct ndmsg nd;
    char attrs[RTA_SPACE(4)];
  } req;
  std::memset(&req, 0, sizeof req);
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg));
  req.nh.nlmsg_type = static_cast<uint16_t>(type);
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  if (type == RTM_NEWNEIGH) req.nh.nlmsg_flags |= NLM_F_CREATE | NLM_F_REPLACE;  // an entry left by a dead claim is taken over
  req.nd.ndm_family = AF_INET;
  req.nd.ndm_ifindex = ifindex;
  req.nd.ndm_state = NUD_PERMANENT;
  req.nd.ndm_flags = NTF_PROXY;
  struct rtattr* rta = reinterpret_cast<struct rtattr*>(reinterpret_cast<char*>(&req) + NLMSG_ALIGN(req.nh.nlmsg_len));
  rta->rta_type = NDA_DST;
  rta->rta_len = RTA_LENGTH(4);
  std::memcpy(RTA_DATA(rta), ip, 4);
  req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);

  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return errno;
  struct sockaddr_nl kernel;
  std::memset(&kernel, 0, sizeof kernel);
  kernel.nl_family = AF_NETLINK;
  int err = 0;
  if (sendto(fd, &req, req.nh.nlmsg_len, 0, reinterpret_cast<struct sockaddr*>(&kernel), sizeof kernel) < 0) {
    err = errno;
  } else {
    alignas(struct nlmsghdr) char buf[1024];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      err = errno;
    } else {
      const struct nlmsghdr* h = reinterpret_cast<const struct nlmsghdr*>(buf);
      if (!NLMSG_OK(h, static_cast<unsigned>(n)) || h->nlmsg_type != NLMSG_ERROR) {
        err = EPROTO;
      } else {
        err = -reinterpret_cast<const struct nlmsgerr*>(NLMSG_DATA(h))->error;  // 0: the ACK
      }
    }
  }
  close(fd);
  return err;
}

Napi::Value ProxyNeigh(const Napi::CallbackInfo& info, int type, const char* what) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsBuffer() || info[1].As<Napi::Buffer<uint8_t>>().Length() != 4) {
    Napi::TypeError::New(env, std::string(what) + "(ifindex, ip: 4-byte Buffer)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int err = ProxyNeighRequest(type, info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Buffer<uint8_t>>().Data());
  if (err != 0) ftcp_tun::MakeSysError(env, err, "rtnetlink", std::string(what) + " (proxy ARP entry)").ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace

Napi::Value AddProxyNeigh(const Napi::CallbackInfo& info) { return ProxyNeigh(info, RTM_NEWNEIGH, "addProxyNeigh"); }
Napi::Value DelProxyNeigh(const Napi::CallbackInfo& info) { return ProxyNeigh(info, RTM_DELNEIGH, "delProxyNeigh"); }

}  // namespace ftcp_lan
