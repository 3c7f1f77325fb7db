// Listening TCP ports of another process's network namespace, asked of the kernel by sock_diag
// (NETLINK_SOCK_DIAG, a dump filtered to TCP_LISTEN): the kernel walks its listening hash only.
// Reading /proc/PID/net/tcp instead walks every bucket of the established hash, which namespaces
// share unless tcp_child_ehash_entries is set (262 144 buckets here): ~2 ms per read, per family,
// on the daemon's event loop every few milliseconds while it waits for a restarted app.
#include "listen_diag.h"

#include "../tun/js_error.h"

#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace {

constexpr int kTcpListen = 10;  // TCP_LISTEN in the kernel's tcp_states.h

// A netlink socket created inside the namespace `nsFd` refers to: setns() on a short-lived thread
// of its own, so no thread of the JS runtime ever changes namespace. -1, *err and *call on failure.
int DiagSocketIn(int nsFd, int* err, const char** call) {
  int fd = -1;
  int e = 0;
  const char* c = "";
  std::thread t([&] {
    if (setns(nsFd, CLONE_NEWNET) != 0) {
      e = errno;
      c = "setns";
      return;
    }
    fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) {
      e = errno;
      c = "socket";
    }
  });
  t.join();
  *err = e;
  *call = c;
  return fd;
}

// The last namespace's socket, kept: a poll for a restarting app asks every few milliseconds, and
// a thread per ask waits for a CPU on a busy host (~1 ms each during a takeover). A socket stays
// in the namespace it was made in, so it is reused only while `pid` is still in that namespace
// (same device and inode of /proc/PID/ns/net). One namespace is cached: the daemon watches one app.
// cacheMu is held for a whole ask (socket and dumps), so two JS threads never share a dump.
struct CachedSocket {
  dev_t dev = 0;
  ino_t ino = 0;
  int fd = -1;
};
std::mutex cacheMu;
CachedSocket cached;

// The socket for the namespace of `pid` (from the cache, or made and cached); -1 on failure.
// Called with cacheMu held.
int DiagSocketFor(int pid, int* err, const char** call) {
  std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
  int ns = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns < 0) {
    *err = errno;
    *call = "open";
    return -1;
  }
  struct stat st;
  if (fstat(ns, &st) != 0) {
    *err = errno;
    *call = "fstat";
    close(ns);
    return -1;
  }
  if (cached.fd >= 0 && cached.dev == st.st_dev && cached.ino == st.st_ino) {
    close(ns);
    return cached.fd;
  }
  int fd = DiagSocketIn(ns, err, call);
  close(ns);
  if (fd < 0) return -1;
  if (cached.fd >= 0) close(cached.fd);
  cached = CachedSocket{st.st_dev, st.st_ino, fd};
  return fd;
}

// A socket that failed mid-dump (a truncated answer may be left queued on it) is not reused.
// Called with cacheMu held.
void ForgetSocket(int fd) {
  if (cached.fd != fd) return;
  close(cached.fd);
  cached = CachedSocket{};
}

// Adds the local ports of `family`'s listening TCP sockets; 0 or an errno. *broken: the socket
// failed (send/recv), an answer may be left half read on it.
int DumpListening(int fd, int family, std::set<int>* ports, bool* broken) {
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg;
  std::memset(&msg, 0, sizeof msg);
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.req.sdiag_family = static_cast<__u8>(family);
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = 1u << kTcpListen;
  if (send(fd, &msg, sizeof msg, 0) < 0) {
    *broken = true;
    return errno;
  }
  alignas(nlmsghdr) char buf[16384];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      *broken = true;
      return errno;
    }
    int left = static_cast<int>(n);
    for (nlmsghdr* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const nlmsgerr* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        return e->error == 0 ? 0 : -e->error;
      }
      const inet_diag_msg* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      ports->insert(ntohs(m->id.idiag_sport));
    }
    if (n == 0) return 0;
  }
}

}  // namespace

Napi::Value ListeningPorts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "listeningPorts(pid): pid must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int pid = info[0].As<Napi::Number>().Int32Value();
  int e = 0;
  const char* call = "";
  std::unique_lock<std::mutex> lock(cacheMu);
  int fd = DiagSocketFor(pid, &e, &call);
  if (fd < 0) {
    ftcp_tun::MakeSysError(env, e, call, "sock_diag in the namespace of pid " + std::to_string(pid)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::set<int> ports;
  bool broken = false;
  int e4 = DumpListening(fd, AF_INET, &ports, &broken);
  // A namespace without IPv6 answers the AF_INET6 dump with an error: nothing listens there.
  if (!broken) DumpListening(fd, AF_INET6, &ports, &broken);
  if (broken) ForgetSocket(fd);
  lock.unlock();
  if (e4 != 0) {
    ftcp_tun::MakeSysError(env, e4, "recv", "sock_diag dump").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array out = Napi::Array::New(env, ports.size());
  uint32_t i = 0;
  for (int p : ports) out.Set(i++, Napi::Number::New(env, p));
  return out;
}
