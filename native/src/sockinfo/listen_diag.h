// Listening TCP ports of a process's network namespace (sock_diag): listen_diag.cc.
#pragma once
#include <napi.h>

// listeningPorts(pid) → number[]: local ports of the TCP sockets in LISTEN state, IPv4 and IPv6,
// in the network namespace of `pid`. Throws (code = errno name) when the namespace cannot be entered.
Napi::Value ListeningPorts(const Napi::CallbackInfo& info);
