#include "projector/clients/temp_files.h"

#include <filesystem>
#include <string_view>

namespace callrec::projector {
namespace {

namespace fs = std::filesystem;

bool IsDownloadPart(std::string_view name) {
  return name.rfind("callrec-", 0) == 0 && name.size() > 5 &&
         name.substr(name.size() - 5) == ".part";
}

bool IsStorageTemp(std::string_view name) {
  return name.rfind("recording.", 0) == 0 && name.find(".tmp.") != std::string_view::npos;
}

// Removes the regular files in `dir` whose name `match` accepts; never follows symlinks.
template <typename Match>
void RemoveIn(const fs::path& dir, Match match, TempCleanup& out) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec) || it->is_symlink(type_ec)) continue;
    if (!match(it->path().filename().string())) continue;
    std::error_code rm_ec;
    if (fs::remove(it->path(), rm_ec)) ++out.removed;
    else if (rm_ec) ++out.failed;
  }
}

}  // namespace

TempCleanup RemoveInterruptedCopies(const std::string& temp_dir, const std::string& storage_dir) {
  TempCleanup out;
  if (!temp_dir.empty()) RemoveIn(temp_dir, IsDownloadPart, out);
  if (storage_dir.empty()) return out;
  // One level of <intake> folders under the storage root.
  std::error_code ec;
  for (fs::directory_iterator it(storage_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_symlink(type_ec) || !it->is_directory(type_ec)) continue;
    RemoveIn(it->path(), IsStorageTemp, out);
  }
  return out;
}

}  // namespace callrec::projector
