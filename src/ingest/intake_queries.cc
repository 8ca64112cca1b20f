#include "ingest/intake_queries.h"

#include <array>
#include <deque>
#include <map>

#include "core/derived_keys.h"
#include "core/intake_id.h"
#include "core/json.h"
#include "core/time_format.h"

namespace callrec::ingest {
namespace {

using core::keys::Be64;
using core::keys::DecodeBe64;
constexpr std::string_view kNewestPrefix = core::keys::kNewest;
constexpr std::string_view kUnmatchedPrefix = core::keys::kUnmatched;
constexpr std::array<std::string_view, 7> kStates = {"created", "answered", "recording", "ended",
                                                     "fetched", "stored",   "failed"};

// One entry of newest/<~seq:be64>/<id>; nullopt for a malformed key.
struct NewestEntry {
  uint64_t seq;
  std::string_view id;
};
std::optional<NewestEntry> ParseNewestKey(std::string_view key) {
  std::string_view rest = key.substr(kNewestPrefix.size());
  if (rest.size() < 10 || rest[8] != '/') return std::nullopt;
  return NewestEntry{~DecodeBe64(rest.substr(0, 8)), rest.substr(9)};
}

std::string DigitsOf(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c >= '0' && c <= '9') out.push_back(c);
  }
  return out;
}

bool PhoneLike(std::string_view q) {
  for (char c : q) {
    if (!(c >= '0' && c <= '9') && c != '+' && c != ' ' && c != '-' && c != '(' && c != ')' &&
        c != '.')
      return false;
  }
  return true;
}

// Walks newest/ from `before` (exclusive) on, calling `visit(seq, id)` until it returns false or
// `max_examined` entries were seen. Returns the seq of the last entry examined when entries may
// remain, else nullopt.
core::Result<std::optional<uint64_t>> WalkNewest(
    core::EventStore& store, std::optional<uint64_t> before, size_t max_examined,
    const std::function<bool(uint64_t seq, std::string_view id)>& visit, size_t& examined) {
  std::string start(kNewestPrefix);
  // ~seq grows as seq shrinks: the first key past `before` is the one of seq before-1.
  if (before) start += Be64(~(*before - 1));
  std::optional<uint64_t> last;
  bool stopped = false;
  core::Status scanned = store.ScanDerivedFrom(
      kNewestPrefix, start, [&](std::string_view key, std::string_view) {
        if (examined >= max_examined) {
          stopped = true;
          return false;
        }
        auto entry = ParseNewestKey(key);
        if (!entry) return true;
        ++examined;
        last = entry->seq;
        if (!visit(entry->seq, entry->id)) {
          stopped = true;
          return false;
        }
        return true;
      });
  if (!scanned.ok()) return scanned;
  if (!stopped || !last || *last <= 1) return std::optional<uint64_t>();
  return last;
}

}  // namespace

bool IntakeMatches(std::string_view id, std::string_view patient_id, std::string_view phone,
                   std::string_view q) {
  if (q.empty()) return true;
  if (id.find(q) != std::string_view::npos) return true;
  if (!patient_id.empty() && patient_id.find(q) != std::string_view::npos) return true;
  if (PhoneLike(q)) {
    std::string digits = DigitsOf(q);
    std::string phone_digits = DigitsOf(phone);
    if (digits.size() >= 3 && phone_digits.size() >= digits.size() &&
        phone_digits.compare(phone_digits.size() - digits.size(), digits.size(), digits) == 0)
      return true;
  }
  return false;
}

core::Result<std::string> ListNewest(core::EventStore& store, const NewestQuery& query) {
  std::string out = R"({"intakes":[)";
  size_t n = 0;
  auto add = [&](std::string_view intake_json) {
    if (n++ > 0) out.push_back(',');
    out.append(intake_json);
  };
  simdjson::dom::parser parser;
  core::Status failed;
  std::string state_prefix = query.state.empty() ? "" : core::keys::StatePrefix(query.state);
  bool filtering = !query.state.empty() || !query.q.empty();
  size_t examined = 0;
  auto visit = [&](uint64_t, std::string_view id) {
    if (!state_prefix.empty()) {
      auto member = store.GetDerived(state_prefix + std::string(id));
      if (!member.ok()) return (failed = member.status(), false);
      if (!member->has_value()) return true;
    }
    auto intake = store.GetDerived(core::keys::IntakeKey(id));
    if (!intake.ok()) return (failed = intake.status(), false);
    if (!intake->has_value()) return true;
    if (!query.q.empty()) {
      auto root = core::ParseJson(parser, **intake);
      if (!root.ok()) return true;
      if (!IntakeMatches(id, core::JsonString(*root, "/patient_id").value_or(""),
                         core::JsonString(*root, "/patient_phone").value_or(""), query.q))
        return true;
    }
    add(**intake);
    return n < query.limit;
  };
  // An unfiltered page examines exactly `limit` entries; a filtered one up to the bound.
  auto next = WalkNewest(store, query.before, filtering ? kMaxSearchExamined : query.limit, visit, examined);
  if (!failed.ok()) return failed;
  if (!next.ok()) return next.status();
  out.append(R"(],"next_before":)");
  out.append(next->has_value() ? std::to_string(**next) : "null");
  out.append(R"(,"examined":)" + std::to_string(examined) + "}");
  return out;
}

core::Result<std::string> CountByState(core::EventStore& store) {
  std::map<std::string, uint64_t, std::less<>> counts;
  uint64_t total = 0;
  CALLREC_RETURN_IF_ERROR(store.ScanDerived(core::keys::kState, [&](std::string_view key, std::string_view) {
    std::string_view rest = key.substr(6);
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return true;
    ++counts[std::string(rest.substr(0, slash))];
    ++total;
    return true;
  }));
  core::JsonWriter w;
  w.BeginObject().Key("counts").BeginObject();
  for (std::string_view state : kStates) {
    auto it = counts.find(state);
    w.Key(state).Uint(it == counts.end() ? 0 : it->second);
  }
  w.EndObject().Key("total").Uint(total).EndObject();
  return w.Take();
}

core::Result<std::string> RecentUnmatched(core::EventStore& store, size_t limit) {
  // Look back from the newest seq in growing windows until `limit` are found or the log's start:
  // a busy account has many unmatched webhooks, and only the newest are wanted.
  uint64_t last = store.LastSeq();
  std::deque<std::pair<uint64_t, std::string>> found;
  for (uint64_t window = 4096;; window *= 4) {
    uint64_t from = last > window ? last - window : 0;
    found.clear();
    std::string start = std::string(kUnmatchedPrefix) + Be64(from);
    CALLREC_RETURN_IF_ERROR(store.ScanDerivedFrom(
        kUnmatchedPrefix, start, [&](std::string_view key, std::string_view value) {
          std::string_view rest = key.substr(kUnmatchedPrefix.size());
          if (rest.size() != 8) return true;
          found.emplace_back(DecodeBe64(rest), std::string(value));
          if (found.size() > limit) found.pop_front();
          return true;
        }));
    if (found.size() >= limit || from == 0) break;
  }
  uint64_t total = 0;
  CALLREC_ASSIGN_OR_RETURN(auto total_text, store.GetDerived(core::keys::kUnmatchedTotal));
  if (total_text) total = std::strtoull(total_text->c_str(), nullptr, 10);

  simdjson::dom::parser parser;
  core::JsonWriter w;
  w.BeginObject().Key("total").Uint(total).Key("webhooks").BeginArray();
  for (auto it = found.rbegin(); it != found.rend(); ++it) {
    w.BeginObject().Key("seq").Uint(it->first);
    if (auto event = store.Read(it->first); event.ok())
      w.Key("recorded_at").String(core::FormatRfc3339Millis(event->recorded_at_ms));
    auto root = core::ParseJson(parser, it->second);
    for (std::string_view field : {"event_type", "call_control_id", "reason"}) {
      auto v = root.ok() ? core::JsonString(*root, "/" + std::string(field)) : std::nullopt;
      w.Key(field).String(v.value_or(""));
    }
    w.EndObject();
  }
  w.EndArray().EndObject();
  return w.Take();
}

core::Result<std::string> CallsPerDay(core::EventStore& store, int64_t now_ms, int days) {
  constexpr int64_t kDayMs = 24 * 60 * 60 * 1000;
  int64_t first_day_ms = (now_ms / kDayMs - (days - 1)) * kDayMs;
  std::vector<std::map<std::string, uint64_t, std::less<>>> per_day(static_cast<size_t>(days));
  simdjson::dom::parser parser;
  core::Status failed;
  size_t examined = 0;
  auto visit = [&](uint64_t, std::string_view id) {
    auto intake = store.GetDerived(core::keys::IntakeKey(id));
    if (!intake.ok()) return (failed = intake.status(), false);
    if (!intake->has_value()) return true;
    auto root = core::ParseJson(parser, **intake);
    if (!root.ok()) return true;
    auto created = core::ParseRfc3339Millis(core::JsonString(*root, "/created_at").value_or(""));
    if (!created.ok()) return true;
    if (*created < first_day_ms) return false;  // newest first: everything after is older
    size_t day = size_t((*created - first_day_ms) / kDayMs);
    if (day < per_day.size())
      ++per_day[day][std::string(core::JsonString(*root, "/state").value_or("unknown"))];
    return true;
  };
  auto next = WalkNewest(store, std::nullopt, kMaxChartExamined, visit, examined);
  if (!failed.ok()) return failed;
  if (!next.ok()) return next.status();
  bool complete = !(next->has_value() && examined >= kMaxChartExamined);
  core::JsonWriter w;
  w.BeginObject().Key("days").BeginArray();
  for (int d = 0; d < days; ++d) {
    w.BeginObject().Key("day").String(core::FormatRfc3339Millis(first_day_ms + d * kDayMs).substr(0, 10));
    for (std::string_view state : kStates) {
      auto it = per_day[size_t(d)].find(state);
      w.Key(state).Uint(it == per_day[size_t(d)].end() ? 0 : it->second);
    }
    w.EndObject();
  }
  w.EndArray().Key("examined").Uint(examined).Key("complete").Bool(complete).EndObject();
  return w.Take();
}

}  // namespace callrec::ingest
