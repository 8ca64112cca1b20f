#include "projector/clients/telnyx_client.h"

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "core/log.h"
#include "core/time_format.h"
#include "fakes/manual_clock.h"
#include "fakes/scripted_transport.h"
#include "matchers/status_matchers.h"

namespace callrec::projector {
namespace {

using std::chrono::milliseconds;
using testing::ManualClock;
using testing::ScriptedTransport;

constexpr char kBase[] = "http://127.0.0.1:9999";
constexpr char kKey[] = "KEYsecret0123456789";
constexpr char kCallId[] = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg";
constexpr char kLeg[] = "2dc6fc34-f9e0-11ed-b4f8-02420a0daa69";
constexpr char kSession[] = "2dc1b3c8-f9e0-11ed-bb2c-02420a0daa69";

std::string RecordingJson(const std::string& id, const std::string& created_at,
                          const std::string& leg = kLeg) {
  return R"({"id":")" + id + R"(","record_type":"recording","call_control_id":")" + kCallId +
         R"(","call_leg_id":")" + leg + R"(","call_session_id":")" + kSession +
         R"(","conference_id":null,"channels":"dual","source":"call","status":"completed",)"
         R"("duration_millis":334798,"recording_started_at":"2026-11-20T15:04:12.902113Z",)"
         R"("created_at":")" +
         created_at +
         R"(","download_urls":{"wav":"https://s3.example/x/intake_1-1763651052.wav?X-Amz-Expires=600"}})";
}

std::string PageJson(const std::vector<std::string>& items, int page, int total_pages) {
  std::string data;
  for (const auto& i : items) data += (data.empty() ? "" : ",") + i;
  return R"({"data":[)" + data + R"(],"meta":{"page_number":)" + std::to_string(page) +
         R"(,"page_size":2,"total_pages":)" + std::to_string(total_pages) +
         R"(,"total_results":5}})";
}

class TelnyxClientTest : public ::testing::Test {
 protected:
  TelnyxClientTest() { transport_.SetLatency(&clock_, milliseconds(250)); }
  ManualClock clock_;
  ScriptedTransport transport_;
  TelnyxClient client_{transport_, clock_, std::string(kBase) + "/", kKey};
};

TEST_F(TelnyxClientTest, RecordStartSendsEncodedIdAuthAndOptions) {
  transport_.On("POST", "/actions/record_start",
                ScriptedTransport::Json(200, R"({"data":{"result":"ok"}})"));
  ApiResult r = client_.RecordStart(kCallId, {.format = "wav",
                                              .channels = "dual",
                                              .trim = "trim-silence",
                                              .custom_file_name = "intake_1",
                                              .command_id = "rs-intake_1"});
  EXPECT_EQ(r.outcome, ApiOutcome::kOk);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.duration, milliseconds(250));
  ASSERT_EQ(transport_.request_count(), 1u);
  HttpRequest req = transport_.requests()[0];
  EXPECT_EQ(req.url, std::string(kBase) +
                         "/v2/calls/v3%3AMdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg"
                         "/actions/record_start");
  EXPECT_EQ(r.path, req.url.substr(std::string(kBase).size()));
  bool auth = false;
  for (auto& [k, v] : req.headers)
    auth |= (k == "authorization" && v == "Bearer " + std::string(kKey));
  EXPECT_TRUE(auth);
  simdjson::dom::parser parser;
  auto body = core::ParseJson(parser, req.body);
  ASSERT_OK(body) << req.body;
  EXPECT_EQ(core::JsonString(*body, "/format"), "wav");
  EXPECT_EQ(core::JsonString(*body, "/channels"), "dual");
  EXPECT_EQ(core::JsonString(*body, "/trim"), "trim-silence");
  EXPECT_EQ(core::JsonString(*body, "/custom_file_name"), "intake_1");
  EXPECT_EQ(core::JsonString(*body, "/command_id"), "rs-intake_1");
}

TEST_F(TelnyxClientTest, CallControlIdWithReservedCharactersIsPercentEncoded) {
  transport_.On("POST", "", ScriptedTransport::Json(200, "{}"));
  ApiResult r = client_.RecordStart("v3:a/b+c=d e?f#g%", {});
  EXPECT_OK(r);
  EXPECT_EQ(
      transport_.requests()[0].url,
      std::string(kBase) + "/v2/calls/v3%3Aa%2Fb%2Bc%3Dd%20e%3Ff%23g%25/actions/record_start");
  simdjson::dom::parser parser;
  auto body = core::ParseJson(parser, transport_.requests()[0].body);
  ASSERT_OK(body);
  // Empty options are left out rather than sent as "".
  EXPECT_FALSE(core::JsonString(*body, "/custom_file_name").has_value());
  EXPECT_FALSE(core::JsonString(*body, "/trim").has_value());
}

TEST_F(TelnyxClientTest, CallEndedIsFailedWithTelnyxDetail) {
  transport_.On("POST", "", ScriptedTransport::Json(422, R"({ "errors": [ { "code": "90018",
      "title": "Call has already ended", "detail": "This call is no longer active and can't receive commands." } ] })"));
  ApiResult r = client_.RecordStart(kCallId, {});
  EXPECT_EQ(r.outcome, ApiOutcome::kFailed);
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.error_code, "90018");
  EXPECT_EQ(r.error_title, "Call has already ended");
  EXPECT_NE(r.error.find("no longer active"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("422"), std::string::npos);
}

TEST_F(TelnyxClientTest, AudioNotStartedIsRetry) {
  transport_.On("POST", "",
                ScriptedTransport::Json(422, R"({"errors":[{"code":90020,"title":"x"}]})"));
  ApiResult r = client_.RecordStart(kCallId, {});
  EXPECT_EQ(r.outcome, ApiOutcome::kRetry);
  EXPECT_EQ(r.error_code, "90020");  // numeric codes are read too
}

TEST_F(TelnyxClientTest, RateLimitedHonoursRetryAfterSecondsAndDate) {
  std::string body = R"({"errors":[{"code":"10011","title":"Too many requests"}]})";
  transport_.On("GET", "", ScriptedTransport::Json(429, body, {{"Retry-After", "7"}}))
      .On("GET", "",
          ScriptedTransport::Json(
              429, body,
              {{"Retry-After", "Fri, 20 Nov 2026 15:01:00 GMT"}, {"X-RateLimit-Reset", "5"}}));
  RecordingLookup first = client_.GetRecording("r1");
  EXPECT_EQ(first.api.outcome, ApiOutcome::kTransient);
  EXPECT_EQ(first.api.retry_after, milliseconds(7000));
  EXPECT_EQ(first.api.retry_after_header, "7");
  // Each request takes 250 ms of clock: the second answer arrives at 15:00:00.500, 59.5 s before
  // the date. Retry-After wins over x-ratelimit-reset.
  RecordingLookup second = client_.GetRecording("r1");
  EXPECT_EQ(second.api.outcome, ApiOutcome::kTransient);
  EXPECT_EQ(second.api.retry_after, milliseconds(59500));
}

TEST_F(TelnyxClientTest, RateLimitedWithOnlyResetHeader) {
  transport_.On("GET", "", ScriptedTransport::Json(429, "{}", {{"x-ratelimit-reset", "12"}}));
  RecordingLookup r = client_.GetRecording("r1");
  EXPECT_EQ(r.api.outcome, ApiOutcome::kTransient);
  EXPECT_EQ(r.api.retry_after, milliseconds(12000));
  EXPECT_EQ(r.api.ratelimit_reset_header, "12");
}

TEST_F(TelnyxClientTest, ServerErrorsTimeoutsAndNoAnswerAreTransient) {
  for (int status : {500, 502, 503, 408}) {
    transport_.On("GET", "", ScriptedTransport::Reply(status, "<html>oops</html>"));
    RecordingLookup r = client_.GetRecording("r1");
    EXPECT_EQ(r.api.outcome, ApiOutcome::kTransient) << status;
    EXPECT_FALSE(r.api.retry_after.has_value());
    EXPECT_EQ(r.api.error, "HTTP " + std::to_string(status));
  }
  transport_.On("GET", "", ScriptedTransport::NoAnswer("curl: Couldn't connect to server"));
  RecordingLookup r = client_.GetRecording("r1");
  EXPECT_EQ(r.api.status, 0);
  EXPECT_EQ(r.api.outcome, ApiOutcome::kTransient);
  EXPECT_EQ(r.api.error, "curl: Couldn't connect to server");
}

TEST_F(TelnyxClientTest, AuthAndOtherClientErrorsAreFailed) {
  for (int status : {400, 401, 403, 404, 409}) {
    transport_.On("GET", "", ScriptedTransport::Json(status, R"({"errors":[{"code":"10009"}]})"));
    EXPECT_EQ(client_.GetRecording("r1").api.outcome, ApiOutcome::kFailed) << status;
  }
}

TEST_F(TelnyxClientTest, ListParsesRecordingsAndEncodesFilter) {
  transport_.On("GET", "/v2/recordings?",
                ScriptedTransport::Json(
                    200, PageJson({RecordingJson("rec-1", "2026-11-20T15:09:48.611000Z")}, 1, 1)));
  RecordingsPage page = client_.ListRecordings({.call_leg_id = kLeg}, 1, 250);
  ASSERT_EQ(page.api.outcome, ApiOutcome::kOk) << page.api.error;
  EXPECT_EQ(transport_.requests()[0].url, std::string(kBase) +
                                              "/v2/recordings?filter%5Bcall_leg_id%5D=" + kLeg +
                                              "&page%5Bnumber%5D=1&page%5Bsize%5D=250");
  ASSERT_EQ(page.recordings.size(), 1u);
  const Recording& rec = page.recordings[0];
  EXPECT_EQ(rec.id, "rec-1");
  EXPECT_EQ(rec.call_control_id, kCallId);
  EXPECT_EQ(rec.call_leg_id, kLeg);
  EXPECT_EQ(rec.call_session_id, kSession);
  EXPECT_EQ(rec.channels, "dual");
  EXPECT_EQ(rec.status, "completed");
  EXPECT_EQ(rec.duration_millis, 334798);
  EXPECT_EQ(rec.recording_started_at, "2026-11-20T15:04:12.902113Z");
  EXPECT_EQ(rec.created_at_ms, *core::ParseRfc3339Millis("2026-11-20T15:09:48.611Z"));
  EXPECT_NE(rec.download_url_wav.find("intake_1-1763651052.wav"), std::string::npos);
  EXPECT_TRUE(rec.download_url_mp3.empty());
  EXPECT_EQ(page.total_pages, 1);
}

TEST_F(TelnyxClientTest, ListBySessionAndEmptyListIsNotFound) {
  transport_.On("GET", "", ScriptedTransport::Json(200, PageJson({}, 1, 0)));
  RecordingsPage page = client_.ListRecordings({.call_session_id = "s/1"}, 3, 20);
  EXPECT_EQ(page.api.outcome, ApiOutcome::kNotFound);
  EXPECT_EQ(page.api.error, "");
  EXPECT_EQ(
      transport_.requests()[0].url,
      std::string(kBase) +
          "/v2/recordings?filter%5Bcall_session_id%5D=s%2F1&page%5Bnumber%5D=3&page%5Bsize%5D=20");
}

// The spec lists a 404 for GET /v2/recordings: nothing (yet), like an empty page, not a fault
// retried for 24 h (issue 9 point 7).
TEST_F(TelnyxClientTest, ListNotFoundStatusIsNotFoundYet) {
  transport_.On("GET", "", ScriptedTransport::Json(404, R"({"errors":[{"code":"10005"}]})"));
  RecordingsPage page = client_.ListRecordings({.call_leg_id = kLeg}, 1, 20);
  EXPECT_EQ(page.api.outcome, ApiOutcome::kNotFound);
  EXPECT_EQ(page.api.error, "");
  EXPECT_TRUE(page.recordings.empty());
}

TEST_F(TelnyxClientTest, GarbageFromTelnyxIsTransient) {
  for (const char* body : {"<html>gateway</html>", R"({"data":{"id":"x"}})",
                           R"({"data":[{"call_leg_id":"no id"}]})", R"({"data":[)"}) {
    transport_.On("GET", "", ScriptedTransport::Json(200, body));
    RecordingsPage page = client_.ListRecordings({.call_leg_id = kLeg}, 1, 20);
    EXPECT_EQ(page.api.outcome, ApiOutcome::kTransient) << body;
    EXPECT_TRUE(page.api.error.starts_with("unparseable response")) << page.api.error;
    EXPECT_TRUE(page.recordings.empty());
  }
}

TEST_F(TelnyxClientTest, BadArgumentsAreRefusedWithoutARequest) {
  transport_.ExpectNoCalls();
  EXPECT_EQ(client_.RecordStart("", {}).outcome, ApiOutcome::kFailed);
  EXPECT_EQ(client_.RecordStart(kCallId, {.format = "ogg"}).outcome, ApiOutcome::kFailed);
  EXPECT_EQ(client_.RecordStart(kCallId, {.channels = "stereo"}).outcome, ApiOutcome::kFailed);
  EXPECT_EQ(client_.RecordStart(kCallId, {.trim = "yes"}).outcome, ApiOutcome::kFailed);
  EXPECT_EQ(client_.ListRecordings({}, 1, 20).api.outcome, ApiOutcome::kFailed);
  EXPECT_EQ(client_.ListRecordings({.call_leg_id = kLeg}, 0, 20).api.outcome, ApiOutcome::kFailed);
  EXPECT_EQ(client_.ListRecordings({.call_leg_id = kLeg}, 1, 251).api.outcome, ApiOutcome::kFailed);
  EXPECT_EQ(client_.GetRecording("").api.outcome, ApiOutcome::kFailed);
  ApiResult r = client_.DeleteRecording("");
  EXPECT_EQ(r.outcome, ApiOutcome::kFailed);
  EXPECT_TRUE(r.error.starts_with("not sent:")) << r.error;
}

TEST_F(TelnyxClientTest, ListAllWalksEveryPage) {
  transport_
      .On("GET", "page%5Bnumber%5D=1&",
          ScriptedTransport::Json(200, PageJson({RecordingJson("a", "2026-11-20T15:00:01Z"),
                                                 RecordingJson("b", "2026-11-20T15:00:02Z")},
                                                1, 3)))
      .On("GET", "page%5Bnumber%5D=2&",
          ScriptedTransport::Json(200, PageJson({RecordingJson("c", "2026-11-20T15:00:03Z"),
                                                 RecordingJson("d", "2026-11-20T15:00:04Z")},
                                                2, 3)))
      .On("GET", "page%5Bnumber%5D=3&",
          ScriptedTransport::Json(200,
                                  PageJson({RecordingJson("e", "2026-11-20T15:00:05Z")}, 3, 3)));
  RecordingsListing all = client_.ListAllRecordings({.call_leg_id = kLeg}, 2, 20);
  EXPECT_EQ(all.outcome, ApiOutcome::kOk);
  EXPECT_FALSE(all.truncated);
  ASSERT_EQ(all.requests.size(), 3u);
  std::string ids;
  for (const Recording& r : all.recordings) ids += r.id;
  EXPECT_EQ(ids, "abcde");
  transport_.ExpectAllServed();
}

TEST_F(TelnyxClientTest, ListAllStopsAtPageCap) {
  for (int n = 1; n <= 2; ++n)
    transport_.On(
        "GET", "page%5Bnumber%5D=" + std::to_string(n) + "&",
        ScriptedTransport::Json(
            200, PageJson({RecordingJson("r" + std::to_string(n), "2026-11-20T15:00:01Z")}, n,
                          1000000)));
  RecordingsListing all = client_.ListAllRecordings({.call_leg_id = kLeg}, 1, 2);
  EXPECT_EQ(all.requests.size(), 2u);  // a hostile total_pages does not make us walk forever
  EXPECT_TRUE(all.truncated);
  EXPECT_EQ(all.recordings.size(), 2u);
  EXPECT_EQ(all.outcome, ApiOutcome::kOk);
}

TEST_F(TelnyxClientTest, ListAllStopsAtFailedPage) {
  transport_
      .On("GET", "page%5Bnumber%5D=1&",
          ScriptedTransport::Json(200,
                                  PageJson({RecordingJson("a", "2026-11-20T15:00:01Z")}, 1, 3)))
      .On("GET", "page%5Bnumber%5D=2&", ScriptedTransport::Reply(503, "busy"));
  RecordingsListing all = client_.ListAllRecordings({.call_leg_id = kLeg});
  EXPECT_EQ(all.outcome, ApiOutcome::kTransient);
  ASSERT_EQ(all.requests.size(), 2u);
  EXPECT_EQ(all.requests[1].status, 503);
}

TEST_F(TelnyxClientTest, ListAllWithNothingIsNotFound) {
  transport_.On("GET", "", ScriptedTransport::Json(200, PageJson({}, 1, 1)));
  RecordingsListing all = client_.ListAllRecordings({.call_session_id = kSession});
  EXPECT_EQ(all.outcome, ApiOutcome::kNotFound);
  EXPECT_EQ(all.requests.size(), 1u);
}

TEST_F(TelnyxClientTest, GetRecordingReturnsFreshObjectAndChecksItsId) {
  transport_
      .On("GET", "/v2/recordings/rec-1",
          ScriptedTransport::Json(
              200, R"({"data":)" + RecordingJson("rec-1", "2026-11-20T15:09:48Z") + "}"))
      .On("GET", "/v2/recordings/rec-1",
          ScriptedTransport::Json(
              200, R"({"data":)" + RecordingJson("rec-2", "2026-11-20T15:09:48Z") + "}"));
  RecordingLookup ok = client_.GetRecording("rec-1");
  ASSERT_OK(ok.api) << ok.api.error;
  ASSERT_TRUE(ok.recording.has_value());
  EXPECT_FALSE(ok.recording->download_url_wav.empty());
  RecordingLookup other = client_.GetRecording("rec-1");
  EXPECT_EQ(other.api.outcome, ApiOutcome::kTransient);
  EXPECT_FALSE(other.recording.has_value());
}

TEST_F(TelnyxClientTest, DeleteRecording) {
  transport_.On("DELETE", "/v2/recordings/rec-1", ScriptedTransport::Reply(204, ""))
      .On("DELETE", "/v2/recordings/rec-1", ScriptedTransport::Json(404, "{}"));
  EXPECT_OK(client_.DeleteRecording("rec-1"));
  ApiResult gone = client_.DeleteRecording("rec-1");
  EXPECT_EQ(gone.outcome, ApiOutcome::kFailed);
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(transport_.requests()[0].method, "DELETE");
}

TEST_F(TelnyxClientTest, NoAuthorizationHeaderWithoutKeyAndTimeoutsPassed) {
  TelnyxClient sim(transport_, clock_, kBase, "",
                   {.connect_timeout = milliseconds(1234), .total_timeout = milliseconds(5678)});
  transport_.On("GET", "", ScriptedTransport::Json(200, PageJson({}, 1, 1)));
  (void)sim.ListRecordings({.call_leg_id = kLeg}, 1, 20);
  HttpRequest req = transport_.requests()[0];
  for (auto& [k, v] : req.headers) EXPECT_NE(k, "authorization");
  EXPECT_EQ(req.connect_timeout, milliseconds(1234));
  EXPECT_EQ(req.total_timeout, milliseconds(5678));
}

// ---- Envelope -----------------------------------------------------------------------------

TEST_F(TelnyxClientTest, EnvelopeEmbedsJsonBodyRawAndHasEveryField) {
  transport_.On("GET", "",
                ScriptedTransport::Json(
                    200, PageJson({RecordingJson("rec-1", "2026-11-20T15:09:48Z")}, 1, 1)));
  RecordingsPage page = client_.ListRecordings({.call_leg_id = kLeg}, 1, 20);
  std::string env = page.api.EnvelopeJson(std::nullopt);
  simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, env);
  ASSERT_OK(root) << env;
  EXPECT_EQ(core::JsonString(*root, "/request/method"), "GET");
  EXPECT_EQ(core::JsonString(*root, "/request/path"),
            "/v2/recordings?filter%5Bcall_leg_id%5D=" + std::string(kLeg) +
                "&page%5Bnumber%5D=1&page%5Bsize%5D=20");
  EXPECT_EQ(core::JsonInt(*root, "/status"), 200);
  EXPECT_EQ(core::JsonInt(*root, "/duration_ms"), 250);
  EXPECT_EQ(core::JsonString(*root, "/outcome"), "ok");
  EXPECT_TRUE((*root)["error"].is_null());
  EXPECT_TRUE((*root)["retry_at"].is_null());
  // The body is the response itself, not a string holding it.
  EXPECT_EQ(core::JsonString(*root, "/body/data/0/id"), "rec-1");
  EXPECT_EQ(core::JsonInt(*root, "/body/meta/total_pages"), 1);
  EXPECT_EQ(env.find(kKey), std::string::npos);
  EXPECT_EQ(env.find("127.0.0.1"), std::string::npos);
}

TEST_F(TelnyxClientTest, EnvelopeOfFailuresCarriesErrorRetryAtAndTextBody) {
  transport_.On("GET", "", ScriptedTransport::Reply(502, "<html>Bad gateway</html>"))
      .On("GET", "", ScriptedTransport::NoAnswer("curl: Timeout was reached"));
  ApiResult bad = client_.GetRecording("rec-1").api;
  int64_t retry_at = ManualClock::kStartMillis + 4000;
  std::string env = bad.EnvelopeJson(retry_at);
  simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, env);
  ASSERT_OK(root) << env;
  EXPECT_EQ(core::JsonString(*root, "/outcome"), "transient");
  EXPECT_EQ(core::JsonString(*root, "/error"), "HTTP 502");
  EXPECT_EQ(core::JsonString(*root, "/retry_at"), "2026-11-20T15:00:04.000Z");
  EXPECT_EQ(core::JsonString(*root, "/body"), "<html>Bad gateway</html>");

  ApiResult none = client_.GetRecording("rec-1").api;
  simdjson::dom::parser parser2;
  auto root2 = core::ParseJson(parser2, none.EnvelopeJson(std::nullopt));
  ASSERT_OK(root2);
  EXPECT_EQ(core::JsonInt(*root2, "/status"), 0);
  EXPECT_EQ(core::JsonString(*root2, "/error"), "curl: Timeout was reached");
  EXPECT_TRUE((*root2)["body"].is_null());
}

TEST_F(TelnyxClientTest, EnvelopeFieldsCanBeExtendedByTheCaller) {
  transport_.On("GET", "", ScriptedTransport::Json(200, PageJson({}, 1, 1)));
  ApiResult r = client_.ListRecordings({.call_leg_id = kLeg}, 1, 20).api;
  core::JsonWriter w;
  w.BeginObject();
  r.WriteEnvelopeFields(w, std::nullopt);
  w.Key("candidates").Int(0);
  w.EndObject();
  simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, w.str());
  ASSERT_OK(root) << w.str();
  EXPECT_EQ(core::JsonString(*root, "/outcome"), "not_found");
  EXPECT_EQ(core::JsonInt(*root, "/candidates"), 0);
}

std::mutex g_log_mu;
std::vector<std::string> g_log_lines;
void CaptureLog(std::string_view line) {
  std::lock_guard lock(g_log_mu);
  g_log_lines.emplace_back(line);
}

TEST_F(TelnyxClientTest, KeyNeverReachesLogsOrErrors) {
  core::SetLogSinkForTest(CaptureLog);
  core::SetLogLevel(core::LogLevel::kDebug);
  transport_.On("GET", "", ScriptedTransport::Json(401, R"({"errors":[{"code":"10009"}]})"))
      .On("GET", "", ScriptedTransport::Json(200, PageJson({}, 1, 1)));
  ApiResult denied = client_.GetRecording("rec-1").api;
  (void)client_.ListRecordings({.call_leg_id = kLeg}, 1, 20);
  core::SetLogSinkForTest(nullptr);
  core::SetLogLevel(core::LogLevel::kInfo);
  std::lock_guard lock(g_log_mu);
  ASSERT_GE(g_log_lines.size(), 2u);
  for (const std::string& line : g_log_lines) EXPECT_EQ(line.find(kKey), std::string::npos) << line;
  EXPECT_EQ(denied.error.find(kKey), std::string::npos);
  EXPECT_EQ(denied.EnvelopeJson(std::nullopt).find(kKey), std::string::npos);
  g_log_lines.clear();
}

// ---- Pure helpers -------------------------------------------------------------------------

TEST(RetryAfterTest, ParsesClampsAndRejects) {
  auto now = std::chrono::system_clock::time_point(milliseconds(ManualClock::kStartMillis));
  EXPECT_EQ(RetryAfterFromHeaders("30", "", now), milliseconds(30000));
  EXPECT_EQ(RetryAfterFromHeaders("", "2", now), milliseconds(2000));
  EXPECT_EQ(RetryAfterFromHeaders("bogus", "3", now), milliseconds(3000));  // falls back
  EXPECT_EQ(RetryAfterFromHeaders("Fri, 20 Nov 2026 14:00:00 GMT", "", now), milliseconds(0));
  EXPECT_EQ(RetryAfterFromHeaders("99999999", "", now), milliseconds(3600000));  // clamped
  EXPECT_EQ(RetryAfterFromHeaders("999999999999999999", "", now), milliseconds(3600000));
  EXPECT_EQ(RetryAfterFromHeaders("", "999999999999999999", now), milliseconds(3600000));
  EXPECT_EQ(RetryAfterFromHeaders("", std::to_string(ManualClock::kStartMillis / 1000 + 9), now),
            milliseconds(9000));  // an absolute reset time
  EXPECT_FALSE(RetryAfterFromHeaders("-5", "", now).has_value());
  EXPECT_FALSE(RetryAfterFromHeaders("", "", now).has_value());
  EXPECT_FALSE(RetryAfterFromHeaders("1.5", "x", now).has_value());
}

TEST(ClassifyResponseTest, Table) {
  EXPECT_EQ(ClassifyResponse(200, ""), ApiOutcome::kOk);
  EXPECT_EQ(ClassifyResponse(204, ""), ApiOutcome::kOk);
  EXPECT_EQ(ClassifyResponse(422, "90020"), ApiOutcome::kRetry);
  EXPECT_EQ(ClassifyResponse(422, "90018"), ApiOutcome::kFailed);
  EXPECT_EQ(ClassifyResponse(0, ""), ApiOutcome::kTransient);
  EXPECT_EQ(ClassifyResponse(429, "10011"), ApiOutcome::kTransient);
  EXPECT_EQ(ClassifyResponse(504, ""), ApiOutcome::kTransient);
  EXPECT_EQ(ClassifyResponse(301, ""), ApiOutcome::kFailed);
  EXPECT_STREQ(ApiOutcomeName(ApiOutcome::kNotFound), "not_found");
}

}  // namespace
}  // namespace callrec::projector
