// The writer thread of one TUN device: packets queued by the JS thread are written from a thread
// of their own, so that a burst of writes (a takeover restoring a thousand connections: ~20 000
// writes, each running the receiving namespace's stack for ~12 µs) overlaps the JS thread's work
// instead of adding to it. Order is kept: packets leave in the order they were queued, and the
// caller writes synchronously only when nothing is queued (idle()).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace ftcp_tun {

class WriteBehind {
 public:
  WriteBehind() = default;
  ~WriteBehind() { Stop(); }
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;

  // Starts the thread (idempotent). Returns an errno value (0 on success).
  int Start(int fd);
  // Joins the thread; packets still queued are discarded (the device is closing). Idempotent.
  void Stop();
  bool running() const { return thread_.joinable(); }

  // Copies packets 0..count-1 (packet i = buf[offsets[i], +lengths[i])) and queues them.
  // Returns how many were queued: fewer when the queue is full (the rest are dropped, as a
  // device queue drops; TCP resends them). `wake`: wake the thread now; otherwise it waits for
  // Kick() — one wake-up for all the packets of an event-loop turn, not one per write (each
  // wake-up costs more than the write, and on a busy machine preempts the caller).
  uint32_t Enqueue(const uint8_t* buf, const uint32_t* offsets, const uint32_t* lengths, uint32_t count, bool wake);
  // Wakes the thread if anything is queued.
  void Kick();
  // Nothing queued or being written: a synchronous write now cannot overtake a queued packet.
  bool idle() const { return pending_.load(std::memory_order_acquire) == 0; }

  // Packets the kernel refused (counted like synchronous write errors) and the last errno.
  uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }
  int lastErrno() const { return lastErrno_.load(std::memory_order_relaxed); }
  // Packets dropped: the queue was full, or the kernel said EAGAIN.
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  uint64_t written() const { return written_.load(std::memory_order_relaxed); }

 private:
  // The packets of one Enqueue call, stored back to back.
  struct Chunk {
    std::vector<uint8_t> bytes;
    std::vector<uint32_t> lengths;
  };

  void Run();
  void WriteChunk(const Chunk& chunk);

  int fd_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Chunk>> queue_;
  std::vector<std::unique_ptr<Chunk>> spare_;  // written chunks, reused (no allocation per call)
  size_t queuedBytes_ = 0;
  bool stopping_ = false;
  std::atomic<uint64_t> pending_{0};  // packets queued and not yet written
  std::atomic<uint64_t> errors_{0};
  std::atomic<int> lastErrno_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> written_{0};
  std::thread thread_;
};

// Most bytes queued at once: ~20 ms of a burst at the rates seen; past it packets are dropped.
constexpr size_t kWriteBehindMaxBytes = 16u << 20;

}  // namespace ftcp_tun
