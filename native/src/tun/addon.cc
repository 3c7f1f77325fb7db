// ftcp_tun: a TUN device handle for Node. One reader thread per device fills batches from a
// small pool of JS-owned buffers and hands each batch to JS with one thread-safe-function call;
// writes are synchronous and batched from the JS thread, or queued to a writer thread while
// write-behind is on (setWriteBehind). See docs/TUN.md.
#include <napi.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "batch_reader.h"
#include "js_error.h"
#include "loop_reader.h"
#include "sys_error.h"
#include "tun_open.h"
#include "write_behind.h"

namespace ftcp_tun {
namespace {

void ThrowSysError(Napi::Env env, const SysError& error) {
  MakeSysError(env, error.err, error.syscall, error.message).ThrowAsJavaScriptException();
}

void ThrowTypeError(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
}

void ThrowRangeError(Napi::Env env, const std::string& message) {
  Napi::RangeError::New(env, message).ThrowAsJavaScriptException();
}

// What the reader thread queues for the JS thread: a filled slot, or the reader's last error.
struct Note {
  bool isError = false;
  Slot* slot = nullptr;
  int err = 0;
  const char* syscall = "";
};

// State shared by the JS handle and the thread-safe function (which may outlive the handle
// by the time its queue drains), hence reference counted.
struct Shared : BatchSink {
  BatchReader reader;
  napi_threadsafe_function tsfn = nullptr;
  std::vector<Note> batchNotes;  // one per slot, reused
  Note errorNote;
  std::atomic<bool> closed{false};
  std::string name;

  void OnBatch(Slot* slot) override {
    Note* note = &batchNotes[slot->index];
    note->slot = slot;
    if (napi_call_threadsafe_function(tsfn, note, napi_tsfn_blocking) != napi_ok) {
      reader.Release(slot->index);  // closing: nobody will consume it
    }
  }
  void OnError(int err, const char* syscall) override {
    errorNote.isError = true;
    errorNote.err = err;
    errorNote.syscall = syscall;
    napi_call_threadsafe_function(tsfn, &errorNote, napi_tsfn_blocking);
  }
};

// Runs on the JS thread for every queued note. The batch memory is valid during the JS call
// only: the slot goes back to the reader as soon as the callback returns.
void CallJs(napi_env env, napi_value callback, void* context, void* data) {
  auto* shared = static_cast<Shared*>(context);
  auto* note = static_cast<Note*>(data);
  if (env == nullptr || callback == nullptr) return;
  if (shared->closed) return;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  if (note->isError) {
    Napi::Error error = MakeSysError(env, note->err, note->syscall, "cannot read from TUN device " + shared->name);
    napi_value argv[3];
    napi_create_int32(env, -1, &argv[0]);
    napi_create_uint32(env, 0, &argv[1]);
    argv[2] = error.Value();
    napi_call_function(env, undefined, callback, 3, argv, nullptr);
    return;
  }
  napi_value argv[2];
  napi_create_int32(env, note->slot->index, &argv[0]);
  napi_create_uint32(env, note->slot->count, &argv[1]);
  napi_call_function(env, undefined, callback, 2, argv, nullptr);
  shared->reader.Release(note->slot->index);
}

// Runs on the JS thread once the thread-safe function is gone: after close() released it, or
// at environment teardown (process exit) when close() was never called. In the latter case the
// reader must stop before it touches the freed function again.
void FinalizeTsfn(napi_env, void* data, void*) {
  auto* holder = static_cast<std::shared_ptr<Shared>*>(data);
  (*holder)->closed = true;
  (*holder)->reader.Stop();
  (*holder)->tsfn = nullptr;
  delete holder;
}

// Data pointer and length of a Uint8Array/Buffer (or any typed array viewed as bytes).
bool BytesOf(napi_env env, napi_value value, uint8_t** data, size_t* length) {
  napi_typedarray_type type;
  size_t elements;
  void* ptr;
  if (napi_get_typedarray_info(env, value, &type, &elements, &ptr, nullptr, nullptr) != napi_ok) return false;
  if (type != napi_uint8_array) return false;
  *data = static_cast<uint8_t*>(ptr);
  *length = elements;
  return true;
}

bool Uint32sOf(napi_env env, napi_value value, uint32_t** data, size_t* length) {
  napi_typedarray_type type;
  size_t elements;
  void* ptr;
  if (napi_get_typedarray_info(env, value, &type, &elements, &ptr, nullptr, nullptr) != napi_ok) return false;
  if (type != napi_uint32_array) return false;
  *data = static_cast<uint32_t*>(ptr);
  *length = elements;
  return true;
}

class TunHandle;
// The open handles of this JS thread by id, so the write path can find its handle from a plain
// integer: ObjectWrap's unwrap (a private-symbol lookup) cost more than the rest of the call.
thread_local std::vector<TunHandle*> tHandles;

class TunHandle : public Napi::ObjectWrap<TunHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TunHandle",
                       {
                           InstanceMethod<&TunHandle::Start>("start"),
                           InstanceMethod<&TunHandle::WriteBatch>("writeBatch"),
                           InstanceMethod<&TunHandle::Write>("write"),
                           InstanceMethod<&TunHandle::Close>("close"),
                           InstanceMethod<&TunHandle::Ref>("ref"),
                           InstanceMethod<&TunHandle::Unref>("unref"),
                           InstanceMethod<&TunHandle::Stats>("stats"),
                           InstanceMethod<&TunHandle::BusyPoll>("busyPollStats"),
                           InstanceMethod<&TunHandle::SetWriteBehind>("setWriteBehind"),
                           InstanceMethod<&TunHandle::KickWriteBehind>("kickWriteBehind"),
                       });
  }

  // new TunHandle({ name, netns?, mtu?, vnetHdr?, txQueueLen? })
  explicit TunHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TunHandle>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      ThrowTypeError(env, "TunHandle: options object expected");
      return;
    }
    Napi::Object opts = info[0].As<Napi::Object>();
    TunConfig config;
    Napi::Value name = opts.Get("name");
    if (!name.IsString()) {
      ThrowTypeError(env, "TunHandle: options.name must be a string");
      return;
    }
    config.name = name.As<Napi::String>().Utf8Value();
    Napi::Value netns = opts.Get("netns");
    if (netns.IsString()) config.netns = netns.As<Napi::String>().Utf8Value();
    Napi::Value mtu = opts.Get("mtu");
    if (mtu.IsNumber()) config.mtu = mtu.As<Napi::Number>().Int32Value();
    Napi::Value txq = opts.Get("txQueueLen");
    if (txq.IsNumber()) config.txQueueLen = txq.As<Napi::Number>().Int32Value();
    config.vnetHdr = opts.Get("vnetHdr").ToBoolean().Value();

    TunOpened opened;
    SysError error;
    if (!OpenTun(config, &opened, &error)) {
      ThrowSysError(env, error);
      return;
    }
    fd_ = opened.fd;
    id_ = static_cast<int32_t>(tHandles.size());
    tHandles.push_back(this);
    shared_ = std::make_shared<Shared>();
    shared_->name = opened.name;
    Napi::Object self = info.This().As<Napi::Object>();
    self.Set("name", Napi::String::New(env, opened.name));
    self.Set("vnetHdrLen", Napi::Number::New(env, opened.vnetHdrLen));
    self.Set("offloads", Napi::Number::New(env, opened.offloads));
    self.Set("fd", Napi::Number::New(env, opened.fd));
    self.Set("id", Napi::Number::New(env, id_));
  }

  ~TunHandle() override { Shutdown(); }

  // writePackets(id, buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count): number
  // The hot write path as a plain function of the module (see tHandles); same semantics as
  // writeBatch.
  static napi_value WritePacketsById(napi_env env, napi_callback_info info) {
    size_t argc = 5;
    napi_value argv[5];
    napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
    int32_t id = -1;
    if (argc < 5 || napi_get_value_int32(env, argv[0], &id) != napi_ok) {
      ThrowTypeError(env, "writePackets(id, buffer, offsets, lengths, count)");
      return nullptr;
    }
    TunHandle* h = id >= 0 && static_cast<size_t>(id) < tHandles.size() ? tHandles[id] : nullptr;
    if (h == nullptr || h->fd_ < 0) {
      MakeSysError(env, EBADF, "write", "TUN device is closed").ThrowAsJavaScriptException();
      return nullptr;
    }
    return h->WriteRun(env, argv + 1);
  }

 private:
  // start(pool: { buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array }[],
  //       dispatch: (slot: number, count: number, error?: Error) => void)
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) {
      MakeSysError(env, EBADF, "start", "TUN device is closed").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (shared_->reader.running() || shared_->tsfn != nullptr || loop_ != nullptr) {
      MakeSysError(env, EBUSY, "start", "TUN device " + shared_->name + " is already started")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsFunction()) {
      ThrowTypeError(env, "start(pool, dispatch) expected");
      return env.Undefined();
    }
    Napi::Array pool = info[0].As<Napi::Array>();
    if (pool.Length() == 0 || pool.Length() > 64) {
      ThrowRangeError(env, "start: pool must have 1 to 64 slots");
      return env.Undefined();
    }
    std::vector<Slot> slots;
    poolRef_ = Napi::Persistent(pool);
    for (uint32_t i = 0; i < pool.Length(); i++) {
      Napi::Value entry = pool.Get(i);
      if (!entry.IsObject()) {
        ThrowTypeError(env, "start: pool entries must be objects");
        return env.Undefined();
      }
      Napi::Object o = entry.As<Napi::Object>();
      Slot slot;
      slot.index = static_cast<int>(i);
      size_t nOffsets = 0, nLengths = 0;
      if (!BytesOf(env, o.Get("buffer"), &slot.buf, &slot.cap) ||
          !Uint32sOf(env, o.Get("offsets"), &slot.offsets, &nOffsets) ||
          !Uint32sOf(env, o.Get("lengths"), &slot.lengths, &nLengths)) {
        ThrowTypeError(env, "start: pool entry needs buffer: Uint8Array, offsets/lengths: Uint32Array");
        return env.Undefined();
      }
      if (slot.cap < kPacketReserve || slot.cap > UINT32_MAX || nOffsets == 0 || nOffsets != nLengths) {
        ThrowRangeError(env, "start: pool buffers need at least " + std::to_string(kPacketReserve) +
                                 " bytes and offsets/lengths of equal non-zero length");
        return env.Undefined();
      }
      slot.maxPackets = static_cast<uint32_t>(nOffsets);
      slots.push_back(slot);
    }
    bool loopMode = info.Length() >= 3 && info[2].IsString() && info[2].As<Napi::String>().Utf8Value() == "loop";
    if (loopMode) {
      LoopReaderOptions opts;
      opts.fd = fd_;
      opts.slot = slots[0];
      opts.name = shared_->name;
      opts.refed = refed_;
      if (info.Length() >= 4 && info[3].IsNumber()) {
        int64_t us = info[3].As<Napi::Number>().Int64Value();
        if (us < 0 || us > 1'000'000) {
          ThrowRangeError(env, "start: busyPollUs must be 0..1000000");
          return env.Undefined();
        }
        opts.busyPollUs = static_cast<uint32_t>(us);
      }
      loop_ = StartLoopReader(env, info[1].As<Napi::Function>(), opts);
      return env.Undefined();
    }
    shared_->batchNotes.assign(slots.size(), Note{});

    auto* keep = new std::shared_ptr<Shared>(shared_);
    napi_status status = napi_create_threadsafe_function(
        env, info[1], nullptr, Napi::String::New(env, "ftcp_tun.reader"), 0, 1, keep, FinalizeTsfn,
        shared_.get(), CallJs, &shared_->tsfn);
    if (status != napi_ok) {
      delete keep;
      shared_->tsfn = nullptr;
      Napi::Error::New(env, "start: cannot create the thread-safe function").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (!refed_) napi_unref_threadsafe_function(env, shared_->tsfn);
    int err = shared_->reader.Start(fd_, std::move(slots), shared_.get());
    if (err != 0) {
      napi_release_threadsafe_function(shared_->tsfn, napi_tsfn_abort);
      shared_->tsfn = nullptr;
      MakeSysError(env, err, "eventfd", "cannot start the reader of " + shared_->name).ThrowAsJavaScriptException();
    }
    return env.Undefined();
  }

  // writeBatch(buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number
  // One write() per packet. Stops at EAGAIN (returns how many went out before it); a packet the
  // kernel rejects (EINVAL, EIO...) is skipped and counted in stats().writeErrors.
  Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    if (fd_ < 0) {
      MakeSysError(info.Env(), EBADF, "write", "TUN device is closed").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    napi_value argv[4];
    for (size_t i = 0; i < 4; i++) argv[i] = info[i];
    return Napi::Value(env, WriteRun(env, argv));
  }

  // argv: buffer, offsets, lengths, count. Returns the count written, or nullptr after throwing.
  napi_value WriteRun(napi_env env, napi_value* argv) {
    uint8_t* buf;
    size_t bufLen, nOffsets, nLengths;
    uint32_t *offsets, *lengths;
    double countArg;
    if (!BytesOf(env, argv[0], &buf, &bufLen) || !Uint32sOf(env, argv[1], &offsets, &nOffsets) ||
        !Uint32sOf(env, argv[2], &lengths, &nLengths) || napi_get_value_double(env, argv[3], &countArg) != napi_ok) {
      ThrowTypeError(env, "writeBatch(buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count)");
      return nullptr;
    }
    if (!(countArg >= 0) || countArg > static_cast<double>(nOffsets) || countArg > static_cast<double>(nLengths)) {
      ThrowRangeError(env, "writeBatch: count exceeds offsets/lengths");
      return nullptr;
    }
    int64_t count = static_cast<int64_t>(countArg);
    // Checked before any packet goes: a bad run writes (or queues) nothing.
    for (int64_t i = 0; i < count; i++) {
      if (static_cast<uint64_t>(offsets[i]) + lengths[i] > bufLen) {
        ThrowRangeError(env, "writeBatch: packet " + std::to_string(i) + " lies outside the buffer");
        return nullptr;
      }
    }
    uint32_t written = 0;
    if (writeBehindOn_ || !writeBehind_.idle()) {
      // Queued behind what is already queued, so that nothing overtakes. While on, the JS side
      // kicks the thread once per event-loop turn; draining after it was turned off, each write
      // wakes it.
      written = writeBehind_.Enqueue(buf, offsets, lengths, static_cast<uint32_t>(count), !writeBehindOn_);
    } else {
      for (int64_t i = 0; i < count; i++) {
        ssize_t n;
        do {
          n = ::write(fd_, buf + offsets[i], lengths[i]);
        } while (n < 0 && errno == EINTR);
        if (n >= 0) {
          written++;
          continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        writeErrors_++;
        lastWriteErrno_ = errno;
      }
    }
    napi_value result;
    napi_create_uint32(env, written, &result);
    return result;
  }

  // write(packet: Uint8Array): boolean — false on EAGAIN, throws on other errors.
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) {
      MakeSysError(env, EBADF, "write", "TUN device is closed").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    uint8_t* buf;
    size_t len;
    if (info.Length() < 1 || !BytesOf(env, info[0], &buf, &len)) {
      ThrowTypeError(env, "write(packet: Uint8Array) expected");
      return env.Undefined();
    }
    if (writeBehindOn_ || !writeBehind_.idle()) {
      uint32_t offset = 0, length = static_cast<uint32_t>(len);
      return Napi::Boolean::New(env, len <= UINT32_MAX && writeBehind_.Enqueue(buf, &offset, &length, 1, !writeBehindOn_) == 1);
    }
    ssize_t n;
    do {
      n = ::write(fd_, buf, len);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) return Napi::Boolean::New(env, true);
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
    int err = errno;
    writeErrors_++;
    lastWriteErrno_ = err;
    MakeSysError(env, err, "write", "cannot write a packet to TUN device " + shared_->name).ThrowAsJavaScriptException();
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  // Whether a started reader keeps the event loop alive (it does by default).
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    refed_ = true;
    if (shared_ && shared_->tsfn != nullptr && fd_ >= 0) napi_ref_threadsafe_function(info.Env(), shared_->tsfn);
    if (loop_ != nullptr) RefLoopReader(loop_, true);
    return info.Env().Undefined();
  }
  Napi::Value Unref(const Napi::CallbackInfo& info) {
    refed_ = false;
    if (shared_ && shared_->tsfn != nullptr && fd_ >= 0) napi_unref_threadsafe_function(info.Env(), shared_->tsfn);
    if (loop_ != nullptr) RefLoopReader(loop_, false);
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    int lastErrno = writeBehind_.lastErrno() != 0 ? writeBehind_.lastErrno() : lastWriteErrno_;
    o.Set("writeErrors", Napi::Number::New(env, static_cast<double>(writeErrors_ + writeBehind_.errors())));
    o.Set("lastWriteError", lastErrno ? Napi::Value(Napi::String::New(env, ErrnoName(lastErrno))) : env.Null());
    o.Set("writeBehindWritten", Napi::Number::New(env, static_cast<double>(writeBehind_.written())));
    o.Set("writeBehindDropped", Napi::Number::New(env, static_cast<double>(writeBehind_.dropped())));
    return o;
  }

  // setWriteBehind(on: boolean): while on, writes are queued to the device's writer thread
  // (started the first time); once off, writes are synchronous again as soon as the queue is
  // empty. Packets queued count as written; the kernel's refusals show in stats() later.
  Napi::Value SetWriteBehind(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) {
      MakeSysError(env, EBADF, "setWriteBehind", "TUN device is closed").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    bool on = info.Length() >= 1 && info[0].ToBoolean().Value();
    if (on) {
      int err = writeBehind_.Start(fd_);
      if (err != 0) {
        MakeSysError(env, err, "pthread_create", "cannot start the writer thread of " + shared_->name)
            .ThrowAsJavaScriptException();
        return env.Undefined();
      }
    }
    writeBehindOn_ = on;
    if (!on) writeBehind_.Kick();  // what is queued goes now
    return env.Undefined();
  }

  // kickWriteBehind(): the writer thread writes what was queued since the last kick.
  Napi::Value KickWriteBehind(const Napi::CallbackInfo& info) {
    writeBehind_.Kick();
    return info.Env().Undefined();
  }

  // busyPollStats(): the loop readers' spin figures of this thread, or null (not a loop reader).
  Napi::Value BusyPoll(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (loop_ == nullptr) return env.Null();
    BusyPollStats bp = LoopBusyPollStats();
    Napi::Object b = Napi::Object::New(env);
    b.Set("spins", Napi::Number::New(env, static_cast<double>(bp.spins)));
    b.Set("hits", Napi::Number::New(env, static_cast<double>(bp.hits)));
    b.Set("misses", Napi::Number::New(env, static_cast<double>(bp.misses)));
    b.Set("yields", Napi::Number::New(env, static_cast<double>(bp.yields)));
    b.Set("windowUs", Napi::Number::New(env, static_cast<double>(bp.windowNs) / 1000.0));
    return b;
  }

  // Stop the reader first (it may be blocked in poll or waiting for a slot), then drop the
  // thread-safe function (its queued batches are skipped: closed is set), then the fd.
  void Shutdown() {
    if (id_ >= 0 && static_cast<size_t>(id_) < tHandles.size() && tHandles[id_] == this) tHandles[id_] = nullptr;
    if (fd_ < 0) return;
    shared_->closed = true;
    shared_->reader.Stop();
    if (loop_ != nullptr) {
      StopLoopReader(loop_);  // before the fd closes: libuv must stop polling it first
      loop_ = nullptr;
    }
    if (shared_->tsfn != nullptr) {
      napi_release_threadsafe_function(shared_->tsfn, napi_tsfn_release);
      shared_->tsfn = nullptr;
    }
    writeBehind_.Stop();  // before the fd closes: the writer may be in write()
    writeBehindOn_ = false;
    ::close(fd_);
    fd_ = -1;
    if (!poolRef_.IsEmpty()) poolRef_.Reset();
  }

  int fd_ = -1;
  int32_t id_ = -1;  // index in tHandles
  bool refed_ = true;
  uint64_t writeErrors_ = 0;
  int lastWriteErrno_ = 0;
  WriteBehind writeBehind_;
  bool writeBehindOn_ = false;
  std::shared_ptr<Shared> shared_;
  LoopReader* loop_ = nullptr;  // when started with mode 'loop'; freed by its uv_close callback
  Napi::Reference<Napi::Array> poolRef_;
};

}  // namespace
}  // namespace ftcp_tun

static Napi::Object InitTun(Napi::Env env, Napi::Object exports) {
  exports.Set("TunHandle", ftcp_tun::TunHandle::Define(env));
  exports.Set("vnetHdrLen", Napi::Number::New(env, ftcp_tun::kVnetHdrLen));
  napi_value writePackets;
  napi_create_function(env, "writePackets", NAPI_AUTO_LENGTH, ftcp_tun::TunHandle::WritePacketsById, nullptr, &writePackets);
  exports.Set("writePackets", Napi::Value(env, writePackets));
  exports.Set("packetReserve", Napi::Number::New(env, static_cast<double>(ftcp_tun::kPacketReserve)));
  return exports;
}

NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitTun)
