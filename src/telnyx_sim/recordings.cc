// SimWorld's recordings half: record_start parsing, listing with Telnyx's documented filters,
// get/delete, and rendering of the recording object (api.recordings.list.json).
#include <algorithm>

#include "core/json.h"
#include "telnyx_sim/world.h"

namespace callrec::telnyx_sim {
namespace {

using core::JsonWriter;
using core::Result;
using core::Status;

ApiError ParamError(const char* code, const char* title, std::string detail, std::string pointer) {
  return ApiError{422, code, title, std::move(detail), std::move(pointer), ""};
}

// Fails with `error` filled; the Status message repeats the detail for logs.
Status Fail(ApiError* error, ApiError e) {
  *error = std::move(e);
  return Status::InvalidArgument(error->detail);
}

Status RequiredEnum(simdjson::dom::object obj, const char* key,
                    std::initializer_list<const char*> allowed, std::string& out,
                    ApiError* error) {
  std::string pointer = std::string("/") + key;
  simdjson::dom::element e;
  if (obj[key].get(e) || e.is_null())
    return Fail(error, ParamError("10004", "Missing required parameter",
                                  std::string("The '") + key + "' parameter is required.", pointer));
  std::string_view v;
  bool ok = !e.get_string().get(v);
  bool in_set = false;
  std::string list;
  for (const char* a : allowed) {
    in_set = in_set || (ok && v == a);
    list += list.empty() ? a : std::string(", ") + a;
  }
  if (!in_set)
    return Fail(error, ParamError("10015", "Bad Request",
                                  std::string("'") + key + "' must be one of: " + list + ".",
                                  pointer));
  out = std::string(v);
  return Status::Ok();
}

bool SafeFileName(std::string_view name) {
  if (name.empty() || name.size() > 40 || name[0] == '.') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Status OptionalFields(simdjson::dom::object obj, RecordStartParams& p, ApiError* error) {
  auto bad = [&](const char* key, std::string detail) {
    return Fail(error, ParamError("10015", "Bad Request", std::move(detail), std::string("/") + key));
  };
  for (auto [key, value] : obj) {
    std::string_view s;
    bool is_string = !value.get_string().get(s);
    if (key == "custom_file_name") {
      if (!is_string || !SafeFileName(s))
        return bad("custom_file_name",
                   "'custom_file_name' must be 1-40 characters of A-Z a-z 0-9 _ - . "
                   "(not starting with '.').");
      p.custom_file_name = std::string(s);
    } else if (key == "command_id") {
      if (!is_string || s.empty() || s.size() > 256)
        return bad("command_id", "'command_id' must be a string of 1-256 characters.");
      p.command_id = std::string(s);
    } else if (key == "client_state") {
      if (!is_string || !core::Base64Decode(s).ok())
        return bad("client_state", "'client_state' must be a base64 string.");
      p.client_state = std::string(s);
    } else if (key == "trim") {
      if (!is_string || (s != "trim-silence" && !s.empty()))
        return bad("trim", "'trim' must be 'trim-silence'.");
    } else if (key == "recording_track") {
      if (!is_string || (s != "both" && s != "inbound" && s != "outbound"))
        return bad("recording_track", "'recording_track' must be one of: both, inbound, outbound.");
    } else if (key == "play_beep") {
      if (!value.is_bool()) return bad("play_beep", "'play_beep' must be a boolean.");
    } else if (key == "max_length") {
      int64_t n;
      if (value.get_int64().get(n) || n < 0 || n > 14400)
        return bad("max_length", "'max_length' must be an integer from 0 to 14400 (seconds).");
      p.max_length_s = n;
    }
    // Other documented fields (transcription, timeout_secs, ...) are accepted and ignored.
  }
  return Status::Ok();
}

}  // namespace

Result<RecordStartParams> ParseRecordStart(std::string_view body, ApiError* error) {
  simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, body);
  simdjson::dom::object obj;
  if (!root.ok() || root->get_object().get(obj)) {
    ApiError e{400, "10015", "Bad Request", "The request body must be a JSON object.", "", ""};
    return Fail(error, std::move(e));
  }
  RecordStartParams p;
  CALLREC_RETURN_IF_ERROR(RequiredEnum(obj, "format", {"wav", "mp3"}, p.format, error));
  CALLREC_RETURN_IF_ERROR(RequiredEnum(obj, "channels", {"single", "dual"}, p.channels, error));
  CALLREC_RETURN_IF_ERROR(OptionalFields(obj, p, error));
  return p;
}

bool SimWorld::Matches(const SimRecording& rec, const RecordingFilter& f) const {
  auto eq = [](const std::optional<std::string>& want, const std::string& have) {
    return !want || *want == have;
  };
  // Recordings of calls have conference_id null: a conference filter matches none of them, and
  // neither does a conference_region one. The sim's calls carry no SIP Call-ID.
  if (f.conference_id || f.conference_region || f.sip_call_id) return false;
  auto in = [](const std::optional<int64_t>& gte, const std::optional<int64_t>& lte, int64_t v) {
    return (!gte || v >= *gte) && (!lte || v <= *lte);
  };
  if (!in(f.start_gte_ms, f.start_lte_ms, rec.started_ms) || !in(f.end_gte_ms, f.end_lte_ms, rec.ended_ms))
    return false;
  if (f.call_control_id && *f.call_control_id != rec.call_control_id &&
      *f.call_control_id != ReportedControlId(rec))
    return false;
  return eq(f.call_leg_id, rec.call_leg_id) && eq(f.call_session_id, rec.call_session_id) &&
         eq(f.connection_id, rec.connection_id) && eq(f.from, rec.from) && eq(f.to, rec.to) &&
         (!f.created_gte_ms || rec.created_ms >= *f.created_gte_ms) &&
         (!f.created_lte_ms || rec.created_ms <= *f.created_lte_ms);
}

RecordingPage SimWorld::ListRecordings(const RecordingFilter& filter, int page_number,
                                       int page_size) {
  core::MutexLock lock(mu_);
  int64_t now = clock_.WallMillis();
  std::vector<const SimRecording*> hits;
  for (const auto& [id, rec] : recordings_)
    if (VisibleLocked(id, now) != nullptr && Matches(rec, filter)) hits.push_back(&rec);
  // Telnyx documents no order; the sim lists newest first (ties by id, for stable pages).
  std::sort(hits.begin(), hits.end(), [](const SimRecording* a, const SimRecording* b) {
    return a->created_ms != b->created_ms ? a->created_ms > b->created_ms : a->id < b->id;
  });
  RecordingPage page;
  page.page_number = page_number;
  page.page_size = page_size;
  page.total_results = int(hits.size());
  page.total_pages = (page.total_results + page_size - 1) / page_size;
  size_t begin = size_t(page_number - 1) * size_t(page_size);
  for (size_t i = begin; i < hits.size() && i < begin + size_t(page_size); ++i)
    page.items.push_back(*hits[i]);
  return page;
}

const SimRecording* SimWorld::VisibleLocked(std::string_view id, int64_t now) const {
  auto it = recordings_.find(id);
  if (it == recordings_.end()) return nullptr;
  int64_t visible = it->second.visible_ms;
  return visible >= 0 && visible != SimRecording::kNever && visible <= now ? &it->second : nullptr;
}

std::optional<SimRecording> SimWorld::GetRecording(std::string_view id) {
  core::MutexLock lock(mu_);
  const SimRecording* rec = VisibleLocked(id, clock_.WallMillis());
  if (rec == nullptr) return std::nullopt;
  return *rec;
}

std::optional<SimRecording> SimWorld::DeleteRecording(std::string_view id) {
  core::MutexLock lock(mu_);
  const SimRecording* found = VisibleLocked(id, clock_.WallMillis());
  if (found == nullptr) return std::nullopt;
  SimRecording rec = *found;
  media_index_.erase(rec.media_path);
  recordings_.erase(rec.id);
  return rec;
}

std::optional<SimRecording> SimWorld::FindByMediaPath(std::string_view path) {
  core::MutexLock lock(mu_);
  auto it = media_index_.find(path);
  if (it == media_index_.end()) return std::nullopt;
  const SimRecording* rec = VisibleLocked(it->second, clock_.WallMillis());
  if (rec == nullptr) return std::nullopt;
  return *rec;
}

size_t SimWorld::recording_count() {
  core::MutexLock lock(mu_);
  return recordings_.size();
}

std::string SimWorld::DownloadUrl(const SimRecording& rec) {
  int64_t expiry = config_.url_expiry.count();
  return base_url_ + rec.media_path + "?" +
         signer_.SignedQuery(rec.media_path, clock_.WallMillis(), expiry);
}

std::string SimWorld::RecordingJson(const SimRecording& rec) {
  JsonWriter w;
  w.BeginObject();
  w.Key("id").String(rec.id);
  w.Key("record_type").String("recording");
  w.Key("call_control_id").String(ReportedControlId(rec));
  w.Key("call_leg_id").String(rec.call_leg_id);
  w.Key("call_session_id").String(rec.call_session_id);
  w.Key("conference_id").Null();
  w.Key("channels").String(rec.channels);
  w.Key("source").String("call");
  w.Key("status").String("completed");
  w.Key("duration_millis").Int(rec.ended_ms - rec.started_ms);
  w.Key("recording_started_at").String(FormatTelnyxTime(rec.started_ms));
  w.Key("recording_ended_at").String(FormatTelnyxTime(rec.ended_ms));
  w.Key("created_at").String(FormatTelnyxTime(rec.created_ms));
  w.Key("updated_at").String(FormatTelnyxTime(rec.created_ms));
  w.Key("download_urls").BeginObject().Key(rec.format).String(DownloadUrl(rec)).EndObject();
  w.EndObject();
  return w.Take();
}

}  // namespace callrec::telnyx_sim
