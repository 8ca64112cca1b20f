// console_assets.h — the operator console's files (web/console/), embedded in the binary at
// build time: clinic networks are often closed, so nothing is fetched from a CDN and nothing is
// read from disk at run time. cmake/embed_assets.cmake generates the definition
// (<build>/generated/console_assets.cc) from every file under web/console/.
//
// Thread-safety: immutable static data.
#pragma once

#include <string_view>

namespace callrec::ingest {

struct ConsoleAsset {
  std::string_view name;          // path below web/console/, e.g. "app.js"
  std::string_view content_type;  // from the extension
  std::string_view bytes;
};

// The asset called `name`, or nullptr.
const ConsoleAsset* FindConsoleAsset(std::string_view name);

}  // namespace callrec::ingest
