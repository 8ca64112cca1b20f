#include "projector/projection/recording_file_name.h"

#include <algorithm>

#include "core/percent_encoding.h"

namespace callrec::projector {

std::string DownloadFileName(std::string_view url) {
  size_t cut = url.find_first_of("?#");
  if (cut != std::string_view::npos) url = url.substr(0, cut);
  size_t scheme = url.find("://");
  if (scheme != std::string_view::npos) {
    url.remove_prefix(scheme + 3);
    size_t path = url.find('/');
    url = path == std::string_view::npos ? std::string_view() : url.substr(path);
  }
  size_t slash = url.rfind('/');
  if (slash != std::string_view::npos) url.remove_prefix(slash + 1);
  return core::PercentDecode(url);
}

bool FileNameBelongsToIntake(std::string_view file_name, std::string_view intake_id) {
  if (intake_id.empty() || file_name.size() <= intake_id.size() + 1) return false;
  if (!file_name.starts_with(intake_id) || file_name[intake_id.size()] != '-') return false;
  std::string_view suffix = file_name.substr(intake_id.size() + 1);
  size_t dot = suffix.rfind('.');
  if (dot != std::string_view::npos) suffix = suffix.substr(0, dot);
  return !suffix.empty() &&
         std::all_of(suffix.begin(), suffix.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace callrec::projector
