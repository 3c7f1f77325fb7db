// Placeholder so the addon builds before its implementation lands.
#include <napi.h>
static Napi::Object Init(Napi::Env env, Napi::Object exports) { return exports; }
NODE_API_MODULE(NODE_GYP_MODULE_NAME, Init)
