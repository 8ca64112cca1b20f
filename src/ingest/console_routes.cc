#include "ingest/console_routes.h"

#include <charconv>
#include <chrono>

#include "core/log.h"
#include "ingest/console_assets.h"
#include "ingest/http_util.h"
#include "ingest/intake_queries.h"

namespace callrec::ingest {
namespace {

// `text` as a whole number in [lo, hi]; `fallback` when absent; nullopt when malformed.
std::optional<int> ParamInt(const httplib::Request& req, const char* name, int lo, int hi, int fallback) {
  if (!req.has_param(name)) return fallback;
  std::string text = req.get_param_value(name);
  int v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi)
    return std::nullopt;
  return v;
}

void Answer(httplib::Response& res, const core::Result<std::string>& body, const char* what) {
  if (body.ok()) return SetJson(res, 200, *body);
  core::LogError("console.store_failed", {{"during", what}, {"error", body.status().message()}});
  SetJsonError(res, 503, "event store unavailable; retry later");
}

}  // namespace

ConsoleRoutes::ConsoleRoutes(core::EventStore& store, core::Clock& clock, const IntakeRoutes& auth)
    : store_(store), clock_(clock), auth_(auth) {}

void ConsoleRoutes::Asset(const httplib::Request& req, httplib::Response& res) const {
  std::string name = req.matches.size() > 1 ? std::string(req.matches[1]) : "";
  // Anything that is not a file (no extension: "", "intakes/<id>", "health") is a page of the
  // app: the shell answers and the script routes on location.pathname.
  bool page = name.find('.') == std::string::npos;
  const ConsoleAsset* asset = FindConsoleAsset(page ? "index.html" : name);
  res.set_header("Content-Security-Policy", kConsoleCsp);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("X-Frame-Options", "DENY");
  if (asset == nullptr) return SetJsonError(res, 404, "no console file " + name);
  res.set_header("Cache-Control", "no-cache");
  res.set_content(asset->bytes.data(), asset->bytes.size(), std::string(asset->content_type).c_str());
}

void ConsoleRoutes::Counts(const httplib::Request& req, httplib::Response& res) const {
  if (!auth_.Authorized(req, res)) return;
  Answer(res, CountByState(store_), "intake counts");
}

void ConsoleRoutes::Unmatched(const httplib::Request& req, httplib::Response& res) const {
  if (!auth_.Authorized(req, res)) return;
  auto limit = ParamInt(req, "limit", 1, 200, 50);
  if (!limit) return SetJsonError(res, 400, "limit must be a whole number from 1 to 200", "limit");
  Answer(res, RecentUnmatched(store_, size_t(*limit)), "unmatched webhooks");
}

void ConsoleRoutes::CallsPerDay(const httplib::Request& req, httplib::Response& res) const {
  if (!auth_.Authorized(req, res)) return;
  auto days = ParamInt(req, "days", 1, 60, 14);
  if (!days) return SetJsonError(res, 400, "days must be a whole number from 1 to 60", "days");
  int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       clock_.WallNow().time_since_epoch()).count();
  Answer(res, ingest::CallsPerDay(store_, now_ms, *days), "calls per day");
}

}  // namespace callrec::ingest
