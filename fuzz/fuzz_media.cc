// The WAV/MP3 check every downloaded recording goes through before it is stored. Property: no
// crash; an accepted file has at least the minimum size of its format.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "fuzz_support.h"
#include "projector/clients/media.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace callrec;
  static const std::string path = "/tmp/callrec-fuzz-media-" + std::to_string(::getpid());
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  if (size > 0) std::fwrite(data, 1, size, f);
  std::fclose(f);
  auto wav = projector::VerifyMedia(path, projector::MediaFormat::kWav);
  if (wav.ok() && wav->bytes < projector::kMinWavBytes) fuzz::PropertyFailed("wav minimum size", "");
  auto mp3 = projector::VerifyMedia(path, projector::MediaFormat::kMp3);
  if (mp3.ok() && mp3->bytes < projector::kMinMp3Bytes) fuzz::PropertyFailed("mp3 minimum size", "");
  return 0;
}
