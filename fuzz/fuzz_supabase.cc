// What Supabase Storage answers to an upload and to the read-back that verifies it: any
// status, any body. Property: no crash; a stored copy is only claimed after a 2xx upload.
//
// Input: byte 0 picks the upload status, byte 1 the verification status; the rest is split on
// "\n--next--\n" into the bodies of successive answers.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "core/log.h"
#include "fuzz_support.h"
#include "projector/clients/recording_storage.h"

namespace {

const std::string& LocalFile() {
  static const std::string* path = [] {
    auto* p = new std::string("/tmp/callrec-fuzz-supabase-" + std::to_string(::getpid()) + ".wav");
    FILE* f = std::fopen(p->c_str(), "wb");
    static const char kWav[64] = "RIFF\x38\0\0\0WAVEfmt ";
    if (f) {
      std::fwrite(kWav, 1, sizeof kWav, f);
      std::fclose(f);
    }
    return p;
  }();
  return *path;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  callrec::core::SetLogLevel(callrec::core::LogLevel::kError);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace callrec;
  if (size < 2) return 0;
  static constexpr int kStatus[] = {200, 201, 400, 404, 409, 413, 429, 500, 503, 401, 403, 204, 206, 302, 0, 200};
  std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  fuzz::ScriptTransport transport;
  size_t start = 0;
  for (int i = 0; i < 6; ++i) {
    size_t cut = rest.find("\n--next--\n", start);
    int status = kStatus[data[i == 0 ? 0 : 1] % 16];
    transport.Add(status, std::string(rest.substr(start, cut == std::string_view::npos ? cut : cut - start)));
    if (cut == std::string_view::npos) break;
    start = cut + 10;
  }
  fuzz::FixedClock clock;
  projector::SupabaseStorage storage(transport, clock, "http://127.0.0.1:1", "recordings", "service-key");
  auto copy = storage.Store("intake-1", LocalFile(), "wav", "");
  if (copy.ok() && copy->status != 0 && copy->status / 100 != 2)
    fuzz::PropertyFailed("a stored copy needs a 2xx upload", std::to_string(copy->status));
  return 0;
}
