// The event-loop reader of a TUN device: the JS thread's own loop polls the fd (uv_poll,
// level-triggered) and reads one batch per readiness into a single slot, handed to JS
// synchronously. One thread wake-up per packet crossing instead of two (reader thread + JS).
//
// Busy-polling: after a batch, the thread may keep reading all of its loop-read devices for a
// short window instead of going back to epoll, so a reply that follows within microseconds is
// read without a sleep and a wake-up (the larger part of a crossing's latency on a VM). The
// window adapts like the kernel's haltpoll: it grows when a packet arrived soon after the
// thread went to sleep, shrinks when a spin caught nothing and the next packet came late, and
// is 0 on an idle relay — a spin only ever follows a delivered batch, never starts on its own.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

#include "batch_reader.h"

namespace ftcp_tun {

struct LoopReader;

struct LoopReaderOptions {
  int fd = -1;
  Slot slot;
  std::string name;
  uint32_t busyPollUs = 0;  // longest spin after a batch; 0: never spin for this device
  bool refed = true;
};

// Starts polling fd on env's loop. Returns nullptr after throwing a JS error.
LoopReader* StartLoopReader(Napi::Env env, Napi::Function dispatch, const LoopReaderOptions& opts);
// Stops polling (call before the fd is closed); the reader is freed once libuv lets go of it.
void StopLoopReader(LoopReader* reader);
void RefLoopReader(LoopReader* reader, bool ref);

// Busy-poll figures of the calling thread (all its loop readers share one spin).
struct BusyPollStats {
  uint64_t spins = 0;   // spin sessions started after a batch
  uint64_t hits = 0;    // batches read while spinning (each one saved a sleep + wake-up)
  uint64_t misses = 0;  // spins that ran out of window and went to sleep
  uint64_t yields = 0;  // spins ended early because the loop had other work (I/O, timers)
  uint64_t windowNs = 0;
};
BusyPollStats LoopBusyPollStats();

}  // namespace ftcp_tun
