// CRC32C (Castagnoli) for the log store's record framing. Uses the SSE4.2 crc32 instruction when the
// CPU has it (checked once at load) and a table-driven loop otherwise. One call covers a whole batch
// of frames (sealFrames / scanFrames) so JS crosses into C++ once per group commit, not per record.
#include <napi.h>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define FTCP_X86 1
#endif

namespace {

uint32_t table[8][256];

void InitTable() {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++) {
    for (int t = 1; t < 8; t++) table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xFF];
  }
}

// Slicing-by-8 on the raw (non-inverted) register.
uint32_t CrcPortable(uint32_t crc, const uint8_t* p, size_t n) {
  while (n >= 8) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= crc;
    crc = table[7][lo & 0xFF] ^ table[6][(lo >> 8) & 0xFF] ^ table[5][(lo >> 16) & 0xFF] ^ table[4][lo >> 24] ^
          table[3][hi & 0xFF] ^ table[2][(hi >> 8) & 0xFF] ^ table[1][(hi >> 16) & 0xFF] ^ table[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xFF];
  return crc;
}

#ifdef FTCP_X86
__attribute__((target("sse4.2"))) uint32_t CrcHw(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t c = crc;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n--) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}
#endif

bool useHw = false;

// Standard CRC32C: pre- and post-inversion, `prev` is a previous finished CRC to continue from.
uint32_t Crc32c(uint32_t prev, const uint8_t* p, size_t n) {
  uint32_t crc = ~prev;
#ifdef FTCP_X86
  if (useHw) return ~CrcHw(crc, p, n);
#endif
  return ~CrcPortable(crc, p, n);
}

uint32_t Rd32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }
void Wr32(uint8_t* p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }

// A frame is [u32le payloadLen][u32le crc][payload]; crc = CRC32C(len bytes ++ payload).
uint32_t FrameCrc(const uint8_t* frame, uint32_t len) {
  return Crc32c(Crc32c(0, frame, 4), frame + 8, len);
}

bool GetBytes(const Napi::CallbackInfo& info, size_t i, uint8_t** data, size_t* len) {
  if (info.Length() <= i || !info[i].IsTypedArray()) return false;
  auto arr = info[i].As<Napi::TypedArray>();
  if (arr.TypedArrayType() != napi_uint8_array) return false;
  auto u8 = arr.As<Napi::Uint8Array>();
  *data = u8.Data();
  *len = u8.ByteLength();
  return true;
}

Napi::Value ThrowType(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

// crc32c(bytes, prev = 0): number
Napi::Value JsCrc32c(const Napi::CallbackInfo& info) {
  uint8_t* p;
  size_t n;
  if (!GetBytes(info, 0, &p, &n)) return ThrowType(info.Env(), "crc32c: expected a Uint8Array");
  uint32_t prev = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
  return Napi::Number::New(info.Env(), Crc32c(prev, p, n));
}

// sealFrames(buf, start, end): writes the crc of every frame laid out back to back in [start, end).
// Returns the number of frames sealed, or -1 if the layout does not fill the range exactly.
Napi::Value JsSealFrames(const Napi::CallbackInfo& info) {
  uint8_t* p;
  size_t n;
  if (!GetBytes(info, 0, &p, &n)) return ThrowType(info.Env(), "sealFrames: expected a Uint8Array");
  size_t pos = info[1].As<Napi::Number>().Int64Value();
  size_t end = info[2].As<Napi::Number>().Int64Value();
  if (end > n || pos > end) return ThrowType(info.Env(), "sealFrames: range outside the buffer");
  int64_t count = 0;
  while (pos < end) {
    if (end - pos < 8) return Napi::Number::New(info.Env(), -1);
    uint32_t len = Rd32(p + pos);
    if (end - pos - 8 < len) return Napi::Number::New(info.Env(), -1);
    Wr32(p + pos + 4, FrameCrc(p + pos, len));
    pos += 8 + size_t(len);
    count++;
  }
  return Napi::Number::New(info.Env(), double(count));
}

// scanFrames(buf, start, maxLen): the byte length of the longest prefix of [start, ...) made of whole
// frames with a valid crc and payload length <= maxLen. Used on start to find a torn tail.
Napi::Value JsScanFrames(const Napi::CallbackInfo& info) {
  uint8_t* p;
  size_t n;
  if (!GetBytes(info, 0, &p, &n)) return ThrowType(info.Env(), "scanFrames: expected a Uint8Array");
  size_t start = info[1].As<Napi::Number>().Int64Value();
  uint32_t maxLen = info[2].As<Napi::Number>().Uint32Value();
  if (start > n) return ThrowType(info.Env(), "scanFrames: start outside the buffer");
  size_t pos = start;
  while (n - pos >= 8) {
    uint32_t len = Rd32(p + pos);
    if (len > maxLen || n - pos - 8 < len) break;
    if (Rd32(p + pos + 4) != FrameCrc(p + pos, len)) break;
    pos += 8 + size_t(len);
  }
  return Napi::Number::New(info.Env(), double(pos - start));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitTable();
#ifdef FTCP_X86
  __builtin_cpu_init();
  useHw = __builtin_cpu_supports("sse4.2");
#endif
  exports.Set("crc32c", Napi::Function::New(env, JsCrc32c));
  exports.Set("sealFrames", Napi::Function::New(env, JsSealFrames));
  exports.Set("scanFrames", Napi::Function::New(env, JsScanFrames));
  exports.Set("hardware", Napi::Boolean::New(env, useHw));
  return exports;
}

}  // namespace

NODE_API_MODULE(NODE_GYP_MODULE_NAME, Init)
