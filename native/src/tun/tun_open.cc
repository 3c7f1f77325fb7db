#include "tun_open.h"

#include <fcntl.h>
#include <net/if.h>
// after net/if.h: linux/if_tun.h pulls in linux/if.h, which clashes with it the other way round
#include <linux/if_tun.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace ftcp_tun {

namespace {

bool Fail(SysError* error, int err, const char* syscall, const std::string& message) {
  error->err = err;
  error->syscall = syscall;
  error->message = message;
  return false;
}

// Link settings go through a socket created in the device's namespace: ioctls on a socket act
// on the namespace the socket was created in, not the caller's current one.
bool ConfigureLink(const TunConfig& config, const std::string& ifname, SysError* error) {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Fail(error, errno, "socket", "cannot create a socket to configure " + ifname);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  bool ok = true;
  if (config.mtu > 0) {
    ifr.ifr_mtu = config.mtu;
    if (ioctl(sock, SIOCSIFMTU, &ifr) < 0) {
      ok = Fail(error, errno, "ioctl(SIOCSIFMTU)",
                "cannot set MTU " + std::to_string(config.mtu) + " on " + ifname);
    }
  }
  if (ok && config.txQueueLen > 0) {
    ifr.ifr_qlen = config.txQueueLen;
    if (ioctl(sock, SIOCSIFTXQLEN, &ifr) < 0) {
      ok = Fail(error, errno, "ioctl(SIOCSIFTXQLEN)", "cannot set txqueuelen on " + ifname);
    }
  }
  if (ok && ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) {
    ok = Fail(error, errno, "ioctl(SIOCGIFFLAGS)", "cannot read flags of " + ifname);
  }
  if (ok) {
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) {
      ok = Fail(error, errno, "ioctl(SIOCSIFFLAGS)", "cannot bring " + ifname + " up");
    }
  }
  close(sock);
  return ok;
}

// Runs in whatever namespace the calling thread is in.
bool OpenHere(const TunConfig& config, TunOpened* out, SysError* error) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return Fail(error, errno, "open", "cannot open /dev/net/tun");

  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (config.vnetHdr ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, config.name.data(), config.name.size());
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return Fail(error, err, "ioctl(TUNSETIFF)", "cannot create TUN device " + config.name);
  }
  std::string ifname(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));

  int hdrLen = 0;
  unsigned offloads = 0;
  if (config.vnetHdr) {
    hdrLen = kVnetHdrLen;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdrLen) < 0) {
      int err = errno;
      close(fd);
      return Fail(error, err, "ioctl(TUNSETVNETHDRSZ)", "cannot set the vnet header size on " + ifname);
    }
    // Header fields little-endian on any host (legacy virtio would use host order). Kernels
    // without cross-endian support refuse this; they are little-endian hosts in practice.
    int le = 1;
    (void)ioctl(fd, TUNSETVNETLE, &le);
    // ECN-marked TSO is optional; retry without it before giving up.
    offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
    if (ioctl(fd, TUNSETOFFLOAD, offloads) < 0) {
      offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
      if (ioctl(fd, TUNSETOFFLOAD, offloads) < 0) {
        int err = errno;
        close(fd);
        return Fail(error, err, "ioctl(TUNSETOFFLOAD)", "cannot enable checksum/TSO offload on " + ifname);
      }
    }
  }

  if (!ConfigureLink(config, ifname, error)) {
    close(fd);
    return false;
  }
  out->fd = fd;
  out->name = ifname;
  out->vnetHdrLen = hdrLen;
  out->offloads = offloads;
  return true;
}

bool ValidNetnsName(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.size() > 255) return false;
  return name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
}

}  // namespace

bool OpenTun(const TunConfig& config, TunOpened* out, SysError* error) {
  if (config.name.empty() || config.name.size() >= IFNAMSIZ ||
      config.name.find('\0') != std::string::npos) {
    return Fail(error, EINVAL, "ioctl(TUNSETIFF)",
                "invalid TUN device name '" + config.name + "' (1 to 15 bytes)");
  }
  if (config.netns.empty()) return OpenHere(config, out, error);
  if (!ValidNetnsName(config.netns)) {
    return Fail(error, EINVAL, "open", "invalid netns name '" + config.netns + "'");
  }

  // setns() changes only the calling thread's namespace; a throw-away thread does it so the
  // Node main thread never leaves its namespace. The fd keeps the device's namespace.
  bool ok = false;
  std::thread worker([&] {
    std::string path = "/var/run/netns/" + config.netns;
    int nsfd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) {
      Fail(error, errno, "open", "cannot open netns " + config.netns);
      return;
    }
    if (setns(nsfd, CLONE_NEWNET) < 0) {
      int err = errno;
      close(nsfd);
      Fail(error, err, "setns", "cannot enter netns " + config.netns);
      return;
    }
    close(nsfd);
    ok = OpenHere(config, out, error);
    if (!ok) error->message += " in netns " + config.netns;
  });
  worker.join();
  return ok;
}

}  // namespace ftcp_tun
