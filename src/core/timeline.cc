#include "core/timeline.h"

#include <algorithm>
#include <cstdio>

#include "core/derived_keys.h"
#include "core/event_types.h"
#include "core/json.h"
#include "core/log.h"
#include "core/time_format.h"

namespace callrec::core {
namespace {

constexpr std::string_view kEllipsis = "\xE2\x80\xA6";

std::string Str(simdjson::dom::element root, std::string_view pointer) {
  return std::string(JsonString(root, pointer).value_or(""));
}

// "15:12:00" from an RFC 3339 string, or the input when it is not one.
std::string ClockTime(std::string_view rfc3339) {
  auto ms = ParseRfc3339Millis(rfc3339);
  if (!ms.ok()) return std::string(rfc3339);
  return FormatRfc3339Millis(*ms).substr(11, 8);
}

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

std::string Bytes(uint64_t n) {
  char buf[32];
  if (n >= 1 << 20) std::snprintf(buf, sizeof buf, "%.1f MB", double(n) / (1 << 20));
  else if (n >= 1 << 10) std::snprintf(buf, sizeof buf, "%.1f KB", double(n) / (1 << 10));
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  return buf;
}

// "→ 200 in 84 ms", "→ no answer after 5000 ms: ...", "→ 422 in 40 ms: Call has already ended (90018)".
std::string ApiOutcome(simdjson::dom::element p) {
  int64_t status = JsonInt(p, "/status").value_or(0);
  int64_t ms = JsonInt(p, "/duration_ms").value_or(0);
  std::string out = status == 0 ? "→ no answer after " + std::to_string(ms) + " ms"
                                : "→ " + std::to_string(status) + " in " + std::to_string(ms) + " ms";
  if (status < 200 || status >= 300) {
    std::string detail = Str(p, "/body/errors/0/title");
    std::string code = Str(p, "/body/errors/0/code");
    if (detail.empty()) detail = Str(p, "/error");
    if (!detail.empty()) out += ": " + detail;
    if (!code.empty()) out += " (" + code + ")";
    std::string retry = Str(p, "/retry_at");
    if (!retry.empty()) out += ", retry at " + ClockTime(retry);
  }
  return out;
}

std::string WebhookSummary(simdjson::dom::element root) {
  std::string type = Str(root, "/data/event_type");
  std::string call = ShortId(Str(root, "/data/payload/call_control_id"));
  if (type == "call.answered" || type == "call.initiated") {
    std::string direction = Str(root, "/data/payload/direction");
    std::string phone = Str(root, direction == "incoming" ? "/data/payload/from" : "/data/payload/to");
    return type + ", patient " + MaskPhone(phone) + ", call " + call;
  }
  if (type == "call.hangup") {
    std::string cause = Str(root, "/data/payload/hangup_cause");
    std::string by = Str(root, "/data/payload/hangup_source");
    return "call.hangup (" + (cause.empty() ? "no cause" : cause) + (by.empty() ? "" : " by " + by) +
           "), call " + call;
  }
  if (type == "call.recording.saved")
    return "call.recording.saved, rec " + ShortId(Str(root, "/data/payload/recording_id")) + ", call " + call;
  if (type == "call.recording.error")
    return "call.recording.error: " + Str(root, "/data/payload/reason") + ", call " + call;
  return type.empty() ? "webhook (no event_type)" : type;
}

std::string StorageSummary(simdjson::dom::element p) {
  std::string outcome = Str(p, "/outcome");
  if (outcome == "ok") {
    std::string sha = Str(p, "/sha256");
    return "stored, sha256 " + sha.substr(0, 4) + std::string(kEllipsis) + ", " +
           Bytes(uint64_t(JsonInt(p, "/bytes").value_or(0))) + " → " + Str(p, "/location");
  }
  std::string s = Str(p, "/stage") + " failed (attempt " + std::to_string(JsonInt(p, "/attempt").value_or(0)) +
                  "): " + Str(p, "/error");
  std::string retry = Str(p, "/retry_at");
  if (!retry.empty()) s += ", retry at " + ClockTime(retry);
  return s;
}

std::string PayloadSummary(const Event& e, simdjson::dom::element p) {
  const std::string& t = e.type;
  if (t == event_type::kTelnyxWebhook) return WebhookSummary(p);
  if (t == event_type::kIntakeCreated) return "intake created, patient " + MaskPhone(Str(p, "/patient_phone"));
  if (t == event_type::kTelnyxRecordStart) return "record_start " + ApiOutcome(p);
  if (t == event_type::kRecordingFetchScheduled)
    return "fetch #" + std::to_string(JsonInt(p, "/query").value_or(0)) + " scheduled for " +
           ClockTime(Str(p, "/due_at")) + " (" + Str(p, "/reason") + ")";
  if (t == event_type::kTelnyxRecordingsList) {
    std::string s = "recordings list " + ApiOutcome(p);
    if (auto candidates = JsonInt(p, "/candidates")) {
      int64_t verified = JsonInt(p, "/verified").value_or(0);
      s += ", " + std::to_string(verified) + " of " + std::to_string(*candidates) + " verified";
      if (*candidates > verified) s += " (other calls)";
    }
    return s;
  }
  if (t == event_type::kRecordingMatched) {
    double seconds = 0;
    if (auto millis = JsonInt(p, "/duration_millis")) seconds = double(*millis) / 1000.0;
    else if (p.at_pointer("/recording_duration").get_double().get(seconds)) seconds = 0;
    return "matched rec " + ShortId(Str(p, "/recording_id")) + ", " + Seconds(seconds);
  }
  if (t == event_type::kTelnyxRecordingGet) return "fresh download URL " + ApiOutcome(p);
  if (t == event_type::kStorageUpload) return StorageSummary(p);
  if (t == event_type::kTelnyxRecordingDelete) return "deleted from Telnyx " + ApiOutcome(p);
  if (t == event_type::kIntakeFailed) return "FAILED " + Str(p, "/reason") + ": " + Str(p, "/error");
  if (t == event_type::kIntakeRetryRequested) return "retry requested by operator (" + Str(p, "/via") + ")";
  if (t == event_type::kTelnyxCallStatus) {
    std::string s = "call status " + ApiOutcome(p);
    bool alive = false;
    if (!p.at_pointer("/body/data/is_alive").get_bool().get(alive)) s += alive ? ", alive" : ", not alive";
    if (auto next = JsonString(p, "/retry_at")) s += ", next check " + ClockTime(*next);
    return s;
  }
  if (t == event_type::kCallPresumedEnded)
    return "call presumed ended (" + Str(p, "/reason") + "): no call.hangup came";
  if (t == event_type::kServiceStarted) return "service started, record mode " + Str(p, "/record_mode");
  return t;
}

}  // namespace

std::string ShortId(std::string_view id) {
  if (id.empty()) return "?";
  std::string_view prefix;
  if (id.substr(0, 3) == "v3:") {
    prefix = "v3:";
    id.remove_prefix(3);
    if (id.size() <= 8) return std::string(prefix) + std::string(id);
    return std::string(prefix) + std::string(kEllipsis) + std::string(id.substr(id.size() - 4));
  }
  if (id.size() <= 10) return std::string(id);
  return std::string(id.substr(0, 4)) + std::string(kEllipsis) + std::string(id.substr(id.size() - 4));
}

namespace {

bool IsAnswered(const Event& e) {
  if (e.type != event_type::kTelnyxWebhook) return false;
  thread_local simdjson::dom::parser parser;
  auto root = ParseJson(parser, e.payload);
  return root.ok() && Str(*root, "/data/event_type") == "call.answered";
}

// How the call was matched and in which direction, as the projection decided (metadata.match,
// match_candidates, call_direction, call_direction_source), said on the call.answered that
// bound it: the first one (a later one never rebinds).
std::string MatchNote(simdjson::dom::element md) {
  std::string match = Str(md, "/match");
  if (match.empty()) return {};
  std::string note;
  if (match == "client_state") note = "matched by client_state";
  else if (match == "sip_header") note = "matched by SIP header";
  else if (match == "phone") note = "matched by phone";
  else if (match == "ambiguous") {
    note = "AMBIGUOUS match by phone: newest intake taken; also possible:";
    simdjson::dom::array others;
    if (!md.at_pointer("/match_candidates").get_array().get(others)) {
      for (auto id : others) {
        std::string_view s;
        if (!id.get_string().get(s)) note += " " + std::string(s);
      }
    }
  } else {
    note = "matched by " + match;
  }
  std::string direction = Str(md, "/call_direction");
  std::string source = Str(md, "/call_direction_source");
  if (!direction.empty()) {
    note += "; " + direction;
    if (source == "assumed") note += " (assumed: no call.initiated seen)";
    else if (!source.empty()) note += " (from " + source + ")";
  }
  return note;
}

Status AnnotateMatch(EventStore& store, std::string_view intake_id,
                     std::vector<TimelineEntry>& entries) {
  CALLREC_ASSIGN_OR_RETURN(auto json, store.GetDerived(keys::IntakeKey(intake_id)));
  if (!json) return Status::Ok();
  thread_local simdjson::dom::parser parser;  // kept: its buffers are reused by the next timeline
  auto root = ParseJson(parser, *json);
  simdjson::dom::element md;
  if (!root.ok() || root->at_pointer("/metadata").get(md)) return Status::Ok();
  std::string note = MatchNote(md);
  if (note.empty()) return Status::Ok();
  const bool incoming = Str(md, "/call_direction") == "incoming";
  thread_local simdjson::dom::parser body_parser;  // not `parser`: `md` lives in it
  for (auto& entry : entries) {
    if (!IsAnswered(entry.event)) continue;
    if (incoming) {
      // The answer body names no direction; the patient is the caller.
      auto body = ParseJson(body_parser, entry.event.payload);
      if (body.ok()) {
        entry.summary = "call.answered, patient " + MaskPhone(Str(*body, "/data/payload/from")) +
                        ", call " + ShortId(Str(*body, "/data/payload/call_control_id"));
      }
    }
    entry.summary += " — " + note;
    break;
  }
  return Status::Ok();
}

}  // namespace

std::string TimelineLinkKey(std::string_view intake_id, uint64_t seq) { return keys::LinkKey(intake_id, seq); }

std::string SummarizeEvent(const Event& event) {
  thread_local simdjson::dom::parser parser;
  auto root = ParseJson(parser, event.payload);
  if (!root.ok()) return event.type + " (payload is not JSON)";
  return PayloadSummary(event, *root);
}

Result<std::vector<TimelineEntry>> LoadTimeline(EventStore& store, std::string_view intake_id) {
  std::vector<TimelineEntry> entries;
  Status s = store.ForEachOfIntake(intake_id, [&](const Event& e) {
    entries.push_back({e, ""});
    return true;
  });
  CALLREC_RETURN_IF_ERROR(s);
  std::string prefix = keys::LinkPrefix(intake_id);
  std::vector<uint64_t> linked;
  s = store.ScanDerived(prefix, [&](std::string_view key, std::string_view) {
    if (key.size() != prefix.size() + 8) return true;
    linked.push_back(keys::DecodeBe64(key.substr(prefix.size())));
    return true;
  });
  CALLREC_RETURN_IF_ERROR(s);
  for (uint64_t seq : linked) {
    CALLREC_ASSIGN_OR_RETURN(Event e, store.Read(seq));
    entries.push_back({std::move(e), ""});
  }
  std::sort(entries.begin(), entries.end(),
            [](const TimelineEntry& a, const TimelineEntry& b) { return a.event.seq < b.event.seq; });
  entries.erase(std::unique(entries.begin(), entries.end(),
                            [](const TimelineEntry& a, const TimelineEntry& b) {
                              return a.event.seq == b.event.seq;
                            }),
                entries.end());
  for (auto& entry : entries) entry.summary = SummarizeEvent(entry.event);
  CALLREC_RETURN_IF_ERROR(AnnotateMatch(store, intake_id, entries));
  return entries;
}

std::string TimelineJson(std::string_view intake_id, const std::vector<TimelineEntry>& entries) {
  JsonWriter w;
  w.BeginObject();
  w.Key("intake_id").String(intake_id);
  w.Key("events").BeginArray();
  for (const auto& entry : entries) {
    const Event& e = entry.event;
    w.BeginObject();
    w.Key("seq").Uint(e.seq);
    w.Key("type").String(e.type);
    w.Key("recorded_at").String(FormatRfc3339Millis(e.recorded_at_ms));
    w.Key("source").String(e.source);
    w.Key("summary").String(entry.summary);
    w.Key("payload").Payload(e.payload);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.Take();
}

}  // namespace callrec::core
