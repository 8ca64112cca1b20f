#include "projector/actor/recording_match.h"

#include <algorithm>
#include <set>
#include <tuple>

namespace callrec::projector {

namespace {

MatchVerdict No(std::string reason) { return {false, std::move(reason)}; }

MatchVerdict VerifyFileNames(const Recording& rec, const CallIdentity& call) {
  if (call.intake_id.empty()) return No("intake id unknown: cannot check the file name");
  for (const std::string* url : {&rec.download_url_wav, &rec.download_url_mp3}) {
    if (url->empty()) continue;
    std::string name = DownloadFileName(*url);
    if (!FileNameBelongsToIntake(name, call.intake_id))
      return No("file name \"" + name + "\" is not " + call.intake_id + "-<timestamp>");
  }
  return {true, ""};
}

}  // namespace

MatchVerdict Verify(const Recording& rec, const CallIdentity& call) {
  if (call.call_session_id.empty()) return No("the call's call_session_id is unknown");
  if (rec.call_session_id != call.call_session_id)
    return No("call_session_id " + rec.call_session_id + " is another call's");
  if (!call.call_leg_id.empty() && rec.call_leg_id != call.call_leg_id)
    return No("call_leg_id " + rec.call_leg_id + " is another leg's");
  // Telnyx does not promise a recording's call_control_id is the webhooks' string (a documented
  // example carries the leg UUID): with the leg and session matching, it is not compared.
  if (call.call_leg_id.empty() && !call.call_control_id.empty() && !rec.call_control_id.empty() &&
      rec.call_control_id != call.call_control_id)
    return No("call_control_id differs");
  if (!rec.status.empty() && rec.status != "completed") return No("status is " + rec.status);
  if (rec.download_url_wav.empty() && rec.download_url_mp3.empty()) return No("no download URL");
  if (call.expect_custom_file_name) return VerifyFileNames(rec, call);
  return {true, ""};
}

Selection SelectRecording(const std::vector<Recording>& candidates, const CallIdentity& call) {
  Selection s;
  std::set<std::string> seen;
  const Recording* best = nullptr;
  // Newest created_at wins; ties (same millisecond) break on start time, then id, so the choice
  // never depends on listing order.
  auto key = [](const Recording* r) {
    return std::tie(r->created_at_ms, r->recording_started_at, r->id);
  };
  for (const Recording& rec : candidates) {
    if (!seen.insert(rec.id).second) continue;  // pages can shift while we walk them
    MatchVerdict v = Verify(rec, call);
    if (!v.verified) {
      s.rejected.emplace_back(rec.id, std::move(v.reason));
      continue;
    }
    s.verified_ids.push_back(rec.id);
    if (best == nullptr || key(&rec) > key(best)) best = &rec;
  }
  s.candidates = seen.size();
  if (best != nullptr) s.chosen = *best;
  return s;
}

}  // namespace callrec::projector
