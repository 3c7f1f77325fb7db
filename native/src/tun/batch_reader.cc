#include "batch_reader.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

namespace ftcp_tun {

int BatchReader::Start(int fd, std::vector<Slot> slots, BatchSink* sink) {
  if (thread_.joinable()) return EBUSY;
  wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd_ < 0) return errno;
  fd_ = fd;
  sink_ = sink;
  slots_ = std::move(slots);
  free_.clear();
  for (size_t i = 0; i < slots_.size(); i++) free_.push_back(static_cast<int>(i));
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
  return 0;
}

void BatchReader::Release(int index) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(index);
  }
  cv_.notify_one();
}

void BatchReader::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  uint64_t one = 1;
  ssize_t ignored = write(wakeFd_, &one, sizeof one);
  (void)ignored;
  cv_.notify_all();
  thread_.join();
  close(wakeFd_);
  wakeFd_ = -1;
}

Slot* BatchReader::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  // All slots busy: JS is behind. Waiting here lets the kernel queue absorb (and then drop).
  cv_.wait(lock, [this] { return stopping_ || !free_.empty(); });
  if (stopping_) return nullptr;
  int index = free_.back();
  free_.pop_back();
  return &slots_[index];
}

bool BatchReader::WaitReadable() {
  struct pollfd fds[2] = {{fd_, POLLIN, 0}, {wakeFd_, POLLIN, 0}};
  for (;;) {
    if (stopping_) return false;
    int n = poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return !stopping_;  // let the read report the problem
    if (fds[1].revents) return false;
    return true;
  }
}

void BatchReader::Run() {
  pthread_setname_np(pthread_self(), "ftcp-tun-read");  // visible in top -H / perf
  for (;;) {
    Slot* slot = Acquire();
    if (slot == nullptr) return;
    uint32_t count = 0;
    size_t pos = 0;
    while (count < slot->maxPackets && slot->cap - pos >= kPacketReserve) {
      ssize_t n = read(fd_, slot->buf + pos, slot->cap - pos);
      if (n > 0) {
        slot->offsets[count] = static_cast<uint32_t>(pos);
        slot->lengths[count] = static_cast<uint32_t>(n);
        count++;
        pos = (pos + static_cast<size_t>(n) + 7) & ~static_cast<size_t>(7);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (count > 0) break;  // hand over what we have rather than wait for more
        if (!WaitReadable()) {
          Release(slot->index);
          return;
        }
        continue;
      }
      // n == 0 cannot happen on a TUN fd; treat it like an I/O error.
      int err = n < 0 ? errno : EIO;
      if (stopping_) return;
      if (count > 0) {
        slot->count = count;
        sink_->OnBatch(slot);
      } else {
        Release(slot->index);
      }
      sink_->OnError(err, "read");
      return;
    }
    if (stopping_) return;
    slot->count = count;
    sink_->OnBatch(slot);
  }
}

}  // namespace ftcp_tun
