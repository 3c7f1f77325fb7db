// The reader thread of one TUN device: fills batches from a fixed pool of slots and hands each
// full (or would-block) batch to a sink. No allocation per packet or per batch.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace ftcp_tun {

// One batch buffer of the pool. Memory belongs to the JS side (kept alive by the addon).
struct Slot {
  int index = 0;
  uint8_t* buf = nullptr;
  size_t cap = 0;
  uint32_t* offsets = nullptr;
  uint32_t* lengths = nullptr;
  uint32_t maxPackets = 0;
  uint32_t count = 0;  // packets filled by the reader
};

class BatchSink {
 public:
  virtual ~BatchSink() = default;
  // Called on the reader thread; the slot stays owned by the consumer until Release(index).
  virtual void OnBatch(Slot* slot) = 0;
  // Called on the reader thread once; the reader stops after it.
  virtual void OnError(int err, const char* syscall) = 0;
};

// Room kept free at the end of a slot so one read can never truncate a packet: the largest
// (GSO) packet a TUN hands over is 64 KiB plus the vnet header.
constexpr size_t kPacketReserve = 65536 + 16;

class BatchReader {
 public:
  BatchReader() = default;
  ~BatchReader() { Stop(); }
  BatchReader(const BatchReader&) = delete;
  BatchReader& operator=(const BatchReader&) = delete;

  // Returns an errno value (0 on success). The fd must be non-blocking.
  int Start(int fd, std::vector<Slot> slots, BatchSink* sink);
  // Gives a slot back to the reader (any thread).
  void Release(int index);
  // Wakes the reader, joins it. Idempotent; safe from the thread that holds slots.
  void Stop();
  bool running() const { return thread_.joinable(); }

 private:
  void Run();
  Slot* Acquire();  // nullptr when stopping
  bool WaitReadable();  // false when stopping

  int fd_ = -1;
  int wakeFd_ = -1;
  BatchSink* sink_ = nullptr;
  std::vector<Slot> slots_;
  std::vector<int> free_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace ftcp_tun
