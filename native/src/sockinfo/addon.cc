// TCP_INFO of a connected socket, for the shim: how many bytes of the server stream the peer has
// acknowledged in this incarnation of the socket (Linux >= 4.6 for every field read here). And the
// listening ports of another namespace, for the daemon (listen_diag.cc).
#include <napi.h>
#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/tcp.h>

#include "../tun/js_error.h"  // errno → JS Error, shared with the TUN addon
#include "listen_diag.h"

namespace {

Napi::Value TcpInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "tcpInfo(fd): fd must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct tcp_info ti;
  std::memset(&ti, 0, sizeof ti);
  socklen_t len = sizeof ti;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) {
    ftcp_tun::MakeSysError(env, errno, "getsockopt", "getsockopt(TCP_INFO)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("state", Napi::Number::New(env, ti.tcpi_state));
  o.Set("bytesAcked", Napi::Number::New(env, static_cast<double>(ti.tcpi_bytes_acked)));
  o.Set("bytesReceived", Napi::Number::New(env, static_cast<double>(ti.tcpi_bytes_received)));
  o.Set("notsentBytes", Napi::Number::New(env, ti.tcpi_notsent_bytes));
  o.Set("unacked", Napi::Number::New(env, ti.tcpi_unacked));
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("tcpInfo", Napi::Function::New(env, TcpInfo));
  exports.Set("listeningPorts", Napi::Function::New(env, ListeningPorts));
  return exports;
}

}  // namespace

NODE_API_MODULE(ftcp_sockinfo, Init)
