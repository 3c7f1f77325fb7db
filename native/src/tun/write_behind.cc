#include "write_behind.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace ftcp_tun {

int WriteBehind::Start(int fd) {
  if (thread_.joinable()) return 0;
  fd_ = fd;
  stopping_ = false;
  try {
    thread_ = std::thread([this] { Run(); });
  } catch (const std::system_error& e) {
    return e.code().value() != 0 ? e.code().value() : EAGAIN;
  }
  pthread_setname_np(thread_.native_handle(), "ftcp-tun-write");
  return 0;
}

void WriteBehind::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t discarded = 0;
  for (const auto& chunk : queue_) discarded += chunk->lengths.size();
  queue_.clear();
  queuedBytes_ = 0;
  pending_.store(0, std::memory_order_release);
  dropped_.fetch_add(discarded, std::memory_order_relaxed);
}

uint32_t WriteBehind::Enqueue(const uint8_t* buf, const uint32_t* offsets, const uint32_t* lengths, uint32_t count,
                              bool wake) {
  if (count == 0) return 0;
  std::unique_ptr<Chunk> chunk;
  uint32_t accepted = 0;
  size_t bytes = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (accepted < count && queuedBytes_ + bytes + lengths[accepted] <= kWriteBehindMaxBytes) {
      bytes += lengths[accepted];
      accepted++;
    }
    if (accepted == 0) {
      dropped_.fetch_add(count, std::memory_order_relaxed);
      return 0;
    }
    queuedBytes_ += bytes;
    if (!spare_.empty()) {
      chunk = std::move(spare_.back());
      spare_.pop_back();
    }
  }
  // The copy is made outside the lock: the writer may be popping meanwhile.
  if (!chunk) chunk = std::make_unique<Chunk>();
  chunk->bytes.resize(bytes);
  chunk->lengths.assign(lengths, lengths + accepted);
  uint8_t* at = chunk->bytes.data();
  for (uint32_t i = 0; i < accepted; i++) {
    std::memcpy(at, buf + offsets[i], lengths[i]);
    at += lengths[i];
  }
  pending_.fetch_add(accepted, std::memory_order_acq_rel);
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(chunk));
  }
  if (wake) cv_.notify_one();
  if (accepted < count) dropped_.fetch_add(count - accepted, std::memory_order_relaxed);
  return accepted;
}

void WriteBehind::Kick() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.empty()) return;
  }
  cv_.notify_one();
}

void WriteBehind::Run() {
  // SCHED_BATCH: woken by a kick, this thread does not preempt the relay thread that kicked it
  // (CFS wake-up preemption); it runs on an idle CPU, or when the kicker's slice ends. On a
  // saturated host each kick otherwise handed the CPU over mid-turn (~34 ms of the relay thread's
  // time in a 1000-connection takeover, by a CPU profile). Best effort: else it stays SCHED_OTHER.
  sched_param param{};
  param.sched_priority = 0;
  pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::unique_ptr<Chunk> chunk = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    WriteChunk(*chunk);
    size_t bytes = chunk->bytes.size();
    uint64_t packets = chunk->lengths.size();
    lock.lock();
    queuedBytes_ -= bytes;
    // Kept for reuse unless it grew large (a burst of GSO packets): memory goes back then.
    if (spare_.size() < 16 && chunk->bytes.capacity() <= (1u << 20)) spare_.push_back(std::move(chunk));
    // Only now may the JS thread write synchronously again (after the last packet is out).
    pending_.fetch_sub(packets, std::memory_order_acq_rel);
  }
}

void WriteBehind::WriteChunk(const Chunk& chunk) {
  const uint8_t* p = chunk.bytes.data();
  uint64_t ok = 0;
  for (uint32_t len : chunk.lengths) {
    ssize_t n;
    do {
      n = ::write(fd_, p, len);
    } while (n < 0 && errno == EINTR);
    p += len;
    if (n >= 0) {
      ok++;
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    errors_.fetch_add(1, std::memory_order_relaxed);
    lastErrno_.store(errno, std::memory_order_relaxed);
  }
  written_.fetch_add(ok, std::memory_order_relaxed);
}

}  // namespace ftcp_tun
