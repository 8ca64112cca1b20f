#include "ingest/intake_routes.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <charconv>

#include "core/derived_keys.h"
#include "core/event_types.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeline.h"
#include "ingest/http_util.h"
#include "ingest/intake_queries.h"
#include "ingest/tuned_server.h"

namespace callrec::ingest {
namespace {

constexpr std::string_view kStates[] = {"created", "answered", "recording", "ended",
                                        "fetched", "stored",   "failed"};
constexpr size_t kDefaultListLimit = 100;
constexpr size_t kMaxListLimit = 1000;

std::array<unsigned char, 32> Sha256(std::string_view text) {
  std::array<unsigned char, 32> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return digest;
}

bool IsState(std::string_view s) {
  for (std::string_view state : kStates) {
    if (s == state) return true;
  }
  return false;
}

// "" -> default; otherwise 1..1000 as plain digits, else 0.
size_t ParseLimit(const std::string& text) {
  if (text.empty()) return kDefaultListLimit;
  size_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 1 || v > kMaxListLimit) return 0;
  return v;
}

void StoreError(httplib::Response& res, const core::Status& status, const char* what) {
  core::Status unavailable = AsStoreUnavailable(status);
  core::LogError("intake.store_failed", {{"during", what}, {"error", unavailable.message()}});
  SetJsonError(res, HttpStatusFor(unavailable), "event store unavailable; retry later");
}

}  // namespace

IntakeRoutes::IntakeRoutes(IntakeRoutesOptions options, core::EventStore& store,
                           core::Metrics& metrics, core::ProjectionProgress* progress)
    : options_(std::move(options)), store_(store), progress_(progress) {
  token_digest_ = Sha256(options_.admin_token);
  created_ = metrics.GetCounter("callrec_ingest_events_appended_total",
                                "Events appended by the HTTP front door, by type",
                                {{"type", std::string(core::event_type::kIntakeCreated)}});
  retries_ = metrics.GetCounter("callrec_ingest_events_appended_total",
                                "Events appended by the HTTP front door, by type",
                                {{"type", std::string(core::event_type::kIntakeRetryRequested)}});
  unauthorized_ = metrics.GetCounter("callrec_admin_unauthorized_total",
                                     "Requests to /api/intakes* refused for a missing or wrong token");
}

bool IntakeRoutes::Authorized(const httplib::Request& req, httplib::Response& res) const {
  if (options_.admin_token.empty()) {
    unauthorized_->Inc();
    SetJsonError(res, 401,
                 "the intake API is disabled: start the service with CALLREC_ADMIN_TOKEN set in "
                 "its environment and send 'Authorization: Bearer <that token>'");
    res.set_header("WWW-Authenticate", "Bearer realm=\"callrec\"");
    return false;
  }
  std::string_view header = HeaderView(req, "Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() > kBearer.size() && header.substr(0, kBearer.size()) == kBearer) {
    auto presented = Sha256(header.substr(kBearer.size()));
    if (CRYPTO_memcmp(presented.data(), token_digest_.data(), presented.size()) == 0) return true;
  }
  unauthorized_->Inc();
  core::LogWarn("admin.unauthorized", {{"path", req.path}, {"remote", req.remote_addr}});
  SetJsonError(res, 401, "missing or wrong token: send 'Authorization: Bearer <CALLREC_ADMIN_TOKEN>'");
  res.set_header("WWW-Authenticate", "Bearer realm=\"callrec\"");
  return false;
}

bool IntakeRoutes::ReadSmallBody(const httplib::Request& req, const httplib::ContentReader& reader,
                                 std::string& body, httplib::Response& res) const {
  switch (ReadBody(req, reader, options_.max_body_bytes, body)) {
    case BodyRead::kOk:
      return true;
    case BodyRead::kTooLarge:
      SetJsonError(res, 413, "body exceeds " + std::to_string(options_.max_body_bytes) + " bytes");
      break;
    case BodyRead::kBadLength:
    case BodyRead::kIncomplete:
      SetJsonError(res, 400, "request body could not be read");
      break;
  }
  TunedServer::CloseConnectionAfterResponse(res);
  return false;
}

void IntakeRoutes::Create(const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader& reader) {
  std::string body;
  // Authorise before reading: strangers do not get to make us buffer 64 KiB. Their unread
  // body is why the connection is closed after the 401.
  if (!Authorized(req, res)) {
    TunedServer::CloseConnectionAfterResponse(res);
    return;
  }
  if (!ReadSmallBody(req, reader, body, res)) return;
  auto parsed = ParseNewIntake(body, options_.random);
  if (auto* error = std::get_if<FieldError>(&parsed)) {
    core::LogWarn("intake.rejected", {{"field", error->field}, {"error", error->message}});
    SetJsonError(res, 400, error->message, error->field);
    return;
  }
  NewIntake& intake = std::get<NewIntake>(parsed);
  core::Event event;
  event.type = core::event_type::kIntakeCreated;
  event.intake_id = intake.id;
  event.source = core::source::kApi;
  event.payload = CanonicalIntakePayload(intake);
  event.idempotency_key = "intake.created:" + intake.id;
  std::string payload = event.payload;

  auto appended = store_.Append(std::move(event), core::Durability::kSync);
  if (!appended.ok()) return StoreError(res, appended.status(), "intake.created");
  if (appended->duplicate) {
    auto first = store_.Read(appended->seq);
    if (!first.ok()) return StoreError(res, first.status(), "intake.created lookup");
    if (first->payload != payload) {
      core::LogWarn("intake.conflict", {{"id", intake.id}, {"seq", appended->seq}});
      SetJsonError(res, 409, "an intake with id '" + intake.id + "' exists with other fields", "id");
      return;
    }
    core::LogInfo("intake.exists", {{"id", intake.id}, {"seq", appended->seq}});
    return AnswerFromProjection(intake.id, appended->seq, 200, res);
  }
  created_->Inc();
  core::LogInfo("intake.created", {{"id", intake.id},
                                   {"seq", appended->seq},
                                   {"patient_phone", core::MaskPhone(intake.patient_phone)},
                                   {"id_generated", intake.id_generated}});
  AnswerFromProjection(intake.id, appended->seq, 201, res);
}

void IntakeRoutes::AnswerFromProjection(const std::string& id, uint64_t seq, int status_if_found,
                                        httplib::Response& res) {
  bool applied = progress_ == nullptr || progress_->WaitApplied(seq, options_.projection_wait);
  if (applied) {
    auto derived = store_.GetDerived(core::keys::IntakeKey(id));
    if (!derived.ok()) return StoreError(res, derived.status(), "intake read");
    if (derived->has_value()) return SetJson(res, status_if_found, std::move(**derived));
  }
  core::LogWarn("intake.projection_pending", {{"id", id}, {"seq", seq}});
  core::JsonWriter w;
  w.BeginObject();
  w.Key("id").String(id);
  w.Key("seq").Uint(seq);
  w.Key("projection").String("pending");
  w.EndObject();
  SetJson(res, 202, w.Take());
}

std::optional<std::string> IntakeRoutes::AuthorizedIntake(const httplib::Request& req,
                                                          httplib::Response& res) const {
  if (!Authorized(req, res)) return std::nullopt;
  std::string id = req.matches[1];
  if (!core::IsStoredIntakeId(id)) {
    SetJsonError(res, 400, std::string(core::IntakeIdRule()), "id");
    return std::nullopt;
  }
  auto derived = store_.GetDerived(core::keys::IntakeKey(id));
  if (!derived.ok()) {
    StoreError(res, derived.status(), "intake read");
    return std::nullopt;
  }
  if (!derived->has_value()) {
    SetJsonError(res, 404, "no intake with id " + id);
    return std::nullopt;
  }
  return std::move(**derived);
}

void IntakeRoutes::Get(const httplib::Request& req, httplib::Response& res) {
  if (auto intake = AuthorizedIntake(req, res)) SetJson(res, 200, std::move(*intake));
}

void IntakeRoutes::Timeline(const httplib::Request& req, httplib::Response& res) {
  if (!AuthorizedIntake(req, res)) return;
  std::string id = req.matches[1];
  auto entries = core::LoadTimeline(store_, id);
  if (!entries.ok()) return StoreError(res, entries.status(), "timeline read");
  SetJson(res, 200, core::TimelineJson(id, *entries));
}

void IntakeRoutes::List(const httplib::Request& req, httplib::Response& res) {
  if (!Authorized(req, res)) return;
  std::string state = req.get_param_value("state");
  if (req.has_param("state") && !IsState(state)) {
    return SetJsonError(res, 400,
                        "state must be one of created, answered, recording, ended, fetched, "
                        "stored, failed", "state");
  }
  size_t limit = ParseLimit(req.get_param_value("limit"));
  if (limit == 0) return SetJsonError(res, 400, "limit must be a whole number from 1 to 1000", "limit");
  if (req.has_param("order") || req.has_param("q") || req.has_param("before")) {
    return ListNewestFirst(req, res, state, limit);
  }

  // Paging: `after=<id>` resumes after that id (ids sort bytewise, as the scan does).
  std::string after = req.get_param_value("after");
  if (req.has_param("after") && !core::IsStoredIntakeId(after)) {
    return SetJsonError(res, 400, "after must be an intake id", "after");
  }
  std::string prefix = state.empty() ? std::string(core::keys::kIntake) : core::keys::StatePrefix(state);
  // '\0' sorts before every id character, so prefix+after+'\0' is the first key past `after`.
  std::string start = after.empty() ? prefix : prefix + after + '\0';

  std::string out = R"({"intakes":[)";
  size_t n = 0;
  auto add = [&](std::string_view intake_json) {
    if (n++ > 0) out.push_back(',');
    out.append(intake_json);
  };
  core::Status scanned;
  if (state.empty()) {
    scanned = store_.ScanDerivedFrom(prefix, start, [&](std::string_view, std::string_view value) {
      add(value);
      return n < limit;
    });
  } else {
    // The state index holds ids only; collect them, then read each intake.
    std::vector<std::string> ids;
    scanned = store_.ScanDerivedFrom(prefix, start, [&](std::string_view key, std::string_view) {
      ids.emplace_back(key.substr(prefix.size()));
      return ids.size() < limit;
    });
    for (size_t i = 0; scanned.ok() && i < ids.size(); ++i) {
      auto derived = store_.GetDerived(core::keys::IntakeKey(ids[i]));
      if (!derived.ok()) scanned = derived.status();
      else if (derived->has_value()) add(**derived);  // moved on since the scan: skip
    }
  }
  if (!scanned.ok()) return StoreError(res, scanned, "intake list");
  out.append("]}");
  SetJson(res, 200, std::move(out));
}

void IntakeRoutes::ListNewestFirst(const httplib::Request& req, httplib::Response& res,
                                   const std::string& state, size_t limit) {
  std::string order = req.get_param_value("order");
  if (req.has_param("order") && order != "newest") {
    return SetJsonError(res, 400, "order must be 'newest' (the default order is by id)", "order");
  }
  NewestQuery query;
  query.state = state;
  query.q = req.get_param_value("q");
  query.limit = limit;
  if (query.q.size() > 64) return SetJsonError(res, 400, "q is at most 64 characters", "q");
  if (req.has_param("before")) {
    std::string text = req.get_param_value("before");
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v == 0) {
      return SetJsonError(res, 400, "before must be a seq (the next_before of the previous page)", "before");
    }
    query.before = v;
  }
  // An exact intake id is found whatever its age (the scan below is bounded).
  if (!query.q.empty() && !query.before && IsValidIntakeId(query.q)) {
    auto exact = store_.GetDerived(core::keys::IntakeKey(query.q));
    if (!exact.ok()) return StoreError(res, exact.status(), "intake read");
    bool in_state = true;
    if (exact->has_value() && !state.empty()) {
      auto member = store_.GetDerived(core::keys::StateKey(state, query.q));
      if (!member.ok()) return StoreError(res, member.status(), "intake read");
      in_state = member->has_value();
    }
    if (exact->has_value() && in_state) {
      return SetJson(res, 200, R"({"intakes":[)" + **exact + R"(],"next_before":null,"examined":1})");
    }
  }
  auto page = ListNewest(store_, query);
  if (!page.ok()) return StoreError(res, page.status(), "intake list");
  SetJson(res, 200, std::move(*page));
}

void IntakeRoutes::Retry(const httplib::Request& req, httplib::Response& res,
                         const httplib::ContentReader& reader) {
  if (!Authorized(req, res)) {
    TunedServer::CloseConnectionAfterResponse(res);
    return;
  }
  std::string body;  // no fields are defined; read so the connection stays usable
  if (!ReadSmallBody(req, reader, body, res)) return;
  std::string id = req.matches[1];
  if (!core::IsStoredIntakeId(id)) {
    return SetJsonError(res, 400, std::string(core::IntakeIdRule()), "id");
  }
  auto derived = store_.GetDerived(core::keys::IntakeKey(id));
  if (!derived.ok()) return StoreError(res, derived.status(), "intake read");
  if (!derived->has_value()) return SetJsonError(res, 404, "no intake with id " + id);

  thread_local simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, **derived);
  std::optional<std::string_view> state = root.ok() ? core::JsonString(*root, "/state") : std::nullopt;
  if (!state) {
    return SetJsonError(res, HttpStatusFor(core::Status::Corruption("projection")),
                        "the projected intake has no state; run `callrec replay --verify`");
  }
  if (*state != "failed") {
    return SetJsonError(res, 409, "intake " + id + " is '" + std::string(*state) +
                                      "'; only failed intakes can be retried");
  }
  core::Event event;
  event.type = core::event_type::kIntakeRetryRequested;
  event.intake_id = id;
  event.source = core::source::kOperator;
  event.payload = R"({"via":"api"})";
  auto appended = store_.Append(std::move(event), core::Durability::kSync);
  if (!appended.ok()) return StoreError(res, appended.status(), "intake.retry_requested");
  retries_->Inc();
  core::LogInfo("intake.retry_requested", {{"id", id}, {"seq", appended->seq}, {"via", "api"}});
  core::JsonWriter w;
  w.BeginObject();
  w.Key("id").String(id);
  w.Key("seq").Uint(appended->seq);
  w.EndObject();
  SetJson(res, 202, w.Take());
}

}  // namespace callrec::ingest
