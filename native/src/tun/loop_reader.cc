#include "loop_reader.h"

#include <poll.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "js_error.h"

namespace ftcp_tun {

struct LoopReader {
  uv_poll_t poll;
  napi_env env = nullptr;
  napi_ref dispatch = nullptr;
  napi_async_context asyncContext = nullptr;
  int fd = -1;
  Slot slot;
  std::string name;
  uint64_t busyPollNs = 0;
  bool active = false;
  bool failed = false;  // a read error was delivered; polling stopped
};

namespace {

constexpr uint64_t kStartWindowNs = 8'000;
// Wasted spins in a row before the window halves. Not 1: request/response gaps are bimodal (a
// quick reply, then sometimes a late one when the peer was preempted), and halving at every late
// one keeps the window below the common gap, so most spins would miss.
constexpr int kMissesBeforeShrink = 4;
// Longest stay in one spin while packets keep coming, so the rest of the loop still runs.
constexpr uint64_t kSessionCapNs = 200'000;

// The loop readers of one JS thread and their shared spin state (only touched on that thread).
struct PollGroup {
  std::vector<LoopReader*> members;
  uint64_t windowNs = 0;
  uint64_t idleSinceNs = 0;  // last batch before the thread went to sleep (0: not tracked)
  bool spinMissed = false;   // that sleep followed a spin that caught nothing
  int wastedSpins = 0;       // spins in a row followed by a gap longer than the largest window
  bool spinning = false;
  uint64_t lastHitNs = 0;        // last batch of a spin that yielded to the loop
  uv_idle_t* idle = nullptr;     // resumes a yielded spin; exists while the group has members
  std::vector<pollfd> pollFds;  // reused by every spin
  BusyPollStats stats;
};

thread_local PollGroup tGroup;

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

void CallDispatch(LoopReader* r, size_t argc, napi_value* argv) {
  napi_value fn, recv;
  napi_get_reference_value(r->env, r->dispatch, &fn);
  napi_get_global(r->env, &recv);  // make_callback needs an object as `this`
  if (napi_make_callback(r->env, r->asyncContext, recv, fn, argc, argv, nullptr) == napi_pending_exception) {
    napi_value exception;
    napi_get_and_clear_last_exception(r->env, &exception);
    napi_fatal_exception(r->env, exception);  // as an uncaught exception, like any callback
  }
}

// Reads one batch (until the read would block or the slot is full) and hands it to JS; a read
// error is delivered after the packets and stops this reader. True if packets were delivered.
bool Pump(LoopReader* r, int status) {
  Slot& slot = r->slot;
  uint32_t count = 0;
  size_t pos = 0;
  // libuv reports POLLERR as UV_EBADF; the read below gets the real errno (e.g. EBADFD when
  // the device was deleted), so the status is only the fallback.
  int err = 0;
  bool wouldBlock = false;
  while (err == 0 && count < slot.maxPackets && slot.cap - pos >= kPacketReserve) {
    ssize_t n = read(r->fd, slot.buf + pos, slot.cap - pos);
    if (n > 0) {
      slot.offsets[count] = static_cast<uint32_t>(pos);
      slot.lengths[count] = static_cast<uint32_t>(n);
      count++;
      pos = (pos + static_cast<size_t>(n) + 7) & ~static_cast<size_t>(7);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      wouldBlock = true;
      break;
    }
    err = n < 0 ? errno : EIO;
  }
  if (err == 0 && status < 0 && wouldBlock && count == 0) err = -status;
  if (count == 0 && err == 0) return false;
  napi_handle_scope scope;
  napi_open_handle_scope(r->env, &scope);
  if (count > 0) {
    napi_value argv[2];
    napi_create_int32(r->env, 0, &argv[0]);
    napi_create_uint32(r->env, count, &argv[1]);
    CallDispatch(r, 2, argv);  // may close the device: r stays valid until uv_close completes
  }
  if (err != 0 && r->active && !r->failed) {
    r->failed = true;
    uv_poll_stop(&r->poll);
    Napi::Error error = MakeSysError(r->env, err, "read", "cannot read from TUN device " + r->name);
    napi_value argv[3];
    napi_create_int32(r->env, -1, &argv[0]);
    napi_create_uint32(r->env, 0, &argv[1]);
    argv[2] = error.Value();
    CallDispatch(r, 3, argv);
  }
  napi_close_handle_scope(r->env, scope);
  return count > 0;
}

uint64_t GroupMaxNs(const PollGroup& g) {
  uint64_t most = 0;
  for (const LoopReader* m : g.members) most = std::max(most, m->busyPollNs);
  return most;
}

// haltpoll's rule, with `gap` = time from the last batch to this wake-up.
void Adapt(PollGroup& g, uint64_t gap, uint64_t maxNs) {
  if (gap < maxNs) {
    // A longer spin would have caught this packet without a sleep.
    g.windowNs = g.windowNs == 0 ? std::min(kStartWindowNs, maxNs) : std::min(2 * g.windowNs, maxNs);
  } else if (g.spinMissed && ++g.wastedSpins >= kMissesBeforeShrink) {
    // The spins were wasted: the next packets came long after them.
    g.wastedSpins = 0;
    g.windowNs /= 2;
    if (g.windowNs < kStartWindowNs) g.windowNs = 0;
  }
}

void OnSpinIdle(uv_idle_t* idle);

// The spin gives the loop a turn (other I/O is ready, a timer is due, or the session cap is
// reached) and resumes from an idle callback: an active idle handle makes that turn's epoll
// non-blocking, so the thread does not go to sleep in the middle of a busy exchange.
void Yield(PollGroup& g, uint64_t lastHit) {
  g.stats.yields++;
  g.lastHitNs = lastHit;
  g.idleSinceNs = 0;
  if (g.idle != nullptr) uv_idle_start(g.idle, OnSpinIdle);
}

// Reads the group's devices as packets arrive until nothing came for a whole window after the
// last batch (`lastHit`) — then the thread sleeps in epoll — or until the loop needs a turn.
void Spin(PollGroup& g, uv_loop_t* loop, uint64_t lastHit) {
  uint64_t window = std::min(g.windowNs, GroupMaxNs(g));
  g.spinMissed = false;
  if (window == 0) {
    g.idleSinceNs = lastHit;
    return;
  }
  uint64_t start = NowNs();
  int timeoutMs = uv_backend_timeout(loop);  // -1: no timer; 0: work pending (immediates...)
  if (timeoutMs == 0) {
    Yield(g, lastHit);
    return;
  }
  uint64_t end = start + kSessionCapNs;
  if (timeoutMs > 0) end = std::min(end, start + static_cast<uint64_t>(timeoutMs) * 1'000'000u);
  g.spinning = true;
  g.stats.spins++;
  std::vector<pollfd>& fds = g.pollFds;
  for (uint64_t now = start;;) {
    if (now - lastHit >= window) {
      g.stats.misses++;
      g.spinMissed = true;
      g.idleSinceNs = lastHit;
      break;
    }
    if (now >= end) {
      Yield(g, lastHit);
      break;
    }
    // Rebuilt every round: a dispatch may open or close devices (closed ones are inactive).
    // The loop's epoll fd comes first: when it is ready but none of the TUN fds polled after it
    // is, the readiness belongs to some other fd of the loop.
    fds.clear();
    fds.push_back({uv_backend_fd(loop), POLLIN, 0});
    for (const LoopReader* m : g.members) {
      if (m->active && !m->failed) fds.push_back({m->fd, POLLIN, 0});
    }
    if (fds.size() == 1) break;  // every device was closed by a dispatch
    int n = poll(fds.data(), fds.size(), 0);
    bool got = false;
    if (n > 0) {
      for (size_t i = 1; i < fds.size(); i++) {
        if (fds[i].revents == 0) continue;
        // Find the reader by fd again: members may have changed during an earlier dispatch.
        for (size_t j = 0; j < g.members.size(); j++) {
          LoopReader* m = g.members[j];
          if (m->fd == fds[i].fd && m->active && !m->failed && Pump(m, 0)) got = true;
        }
      }
      if (!got && fds[0].revents != 0) {
        Yield(g, lastHit);
        break;
      }
    }
    now = NowNs();
    if (got) {
      g.stats.hits++;
      g.wastedSpins = 0;
      lastHit = now;
    }
  }
  g.spinning = false;
}

void OnSpinIdle(uv_idle_t* idle) {
  uv_idle_stop(idle);
  PollGroup& g = tGroup;
  if (g.members.empty() || g.spinning) return;
  Spin(g, idle->loop, g.lastHitNs);
}

void OnLoopReadable(uv_poll_t* handle, int status, int) {
  auto* r = static_cast<LoopReader*>(handle->data);
  if (!r->active || r->failed) return;
  PollGroup& g = tGroup;
  uint64_t maxNs = GroupMaxNs(g);
  if (g.idleSinceNs != 0) {
    Adapt(g, NowNs() - g.idleSinceNs, maxNs);
    g.idleSinceNs = 0;
  }
  // Not readable after all (another device's spin drained it): no spin either.
  if (!Pump(r, status)) return;
  if (maxNs == 0 || g.spinning) return;
  if (g.idle != nullptr) uv_idle_stop(g.idle);  // this spin takes over from a yielded one
  Spin(g, handle->loop, NowNs());
}

}  // namespace

LoopReader* StartLoopReader(Napi::Env env, Napi::Function dispatch, const LoopReaderOptions& opts) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Napi::Error::New(env, "start: no event loop").ThrowAsJavaScriptException();
    return nullptr;
  }
  auto* r = new LoopReader();
  r->env = env;
  r->fd = opts.fd;
  r->slot = opts.slot;
  r->name = opts.name;
  r->busyPollNs = static_cast<uint64_t>(opts.busyPollUs) * 1000u;
  r->poll.data = r;
  int rc = uv_poll_init(loop, &r->poll, opts.fd);
  if (rc != 0) {
    delete r;
    MakeSysError(env, -rc, "uv_poll_init", "cannot poll TUN device " + opts.name).ThrowAsJavaScriptException();
    return nullptr;
  }
  napi_create_reference(env, dispatch, 1, &r->dispatch);
  napi_async_init(env, Napi::Object::New(env), Napi::String::New(env, "ftcp_tun.loopReader"), &r->asyncContext);
  r->active = true;
  uv_poll_start(&r->poll, UV_READABLE, OnLoopReadable);
  if (!opts.refed) uv_unref(reinterpret_cast<uv_handle_t*>(&r->poll));
  if (tGroup.idle == nullptr) {
    tGroup.idle = new uv_idle_t();
    uv_idle_init(loop, tGroup.idle);
    uv_unref(reinterpret_cast<uv_handle_t*>(tGroup.idle));  // never keeps the process alive
  }
  tGroup.members.push_back(r);
  return r;
}

void StopLoopReader(LoopReader* r) {
  if (!r->active) return;
  r->active = false;
  auto& members = tGroup.members;
  members.erase(std::remove(members.begin(), members.end(), r), members.end());
  if (members.empty()) {
    tGroup.windowNs = 0;
    tGroup.idleSinceNs = 0;
    if (tGroup.idle != nullptr) {
      uv_idle_stop(tGroup.idle);
      uv_close(reinterpret_cast<uv_handle_t*>(tGroup.idle), [](uv_handle_t* h) { delete reinterpret_cast<uv_idle_t*>(h); });
      tGroup.idle = nullptr;
    }
  }
  uv_poll_stop(&r->poll);
  napi_delete_reference(r->env, r->dispatch);
  napi_async_destroy(r->env, r->asyncContext);
  uv_close(reinterpret_cast<uv_handle_t*>(&r->poll), [](uv_handle_t* h) { delete static_cast<LoopReader*>(h->data); });
}

void RefLoopReader(LoopReader* r, bool ref) {
  if (ref) {
    uv_ref(reinterpret_cast<uv_handle_t*>(&r->poll));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(&r->poll));
  }
}

BusyPollStats LoopBusyPollStats() {
  BusyPollStats s = tGroup.stats;
  s.windowNs = tGroup.windowNs;
  return s;
}

}  // namespace ftcp_tun
