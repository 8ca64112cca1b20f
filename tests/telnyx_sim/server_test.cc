// telnyx-sim's Telnyx API: record_start, recordings listing/get/delete, auth and API faults.
#include "telnyx_sim/server.h"

#include <gtest/gtest.h>

#include "core/time_format.h"
#include "telnyx_sim/test_support.h"
#include "matchers/status_matchers.h"

namespace callrec::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class SimApiTest : public ::testing::Test {
 protected:
  void Start(SimConfig config = {}) {
    sim_ = StartSim(clock_, std::move(config));
    ASSERT_NE(sim_, nullptr);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", sim_->port());
  }

  httplib::Result RecordStart(const std::string& ccid, const std::string& body) {
    return client_->Post(RecordStartPath(ccid).c_str(), body, "application/json");
  }

  // Places a call, answers it, starts a wav/dual recording named `name` (the call leg id when
  // empty), lets it run `length`, hangs up and moves the clock past the recording delay.
  CallIds RecordedCall(const std::string& name, CallSpec spec = ManualCall(),
                       milliseconds length = milliseconds(5000)) {
    auto ids = sim_->PlaceCall(spec);
    EXPECT_OK(ids);
    EXPECT_OK(sim_->AnswerCall(ids->call_control_id));
    std::string body = R"({"format":"wav","channels":"dual")";
    if (!name.empty()) body += R"(,"custom_file_name":")" + name + "\"";
    auto res = RecordStart(ids->call_control_id, body + "}");
    EXPECT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
    clock_.Advance(length);
    EXPECT_OK(sim_->HangupCall(ids->call_control_id));
    clock_.Advance(milliseconds(1000));  // the default recording delay
    return *ids;
  }

  Json Get(const std::string& path, int want_status = 200) {
    auto res = client_->Get(path.c_str());
    EXPECT_TRUE(res);
    if (!res) return Json("null");
    EXPECT_EQ(res->status, want_status) << path << " -> " << res->body;
    return Json(res->body);
  }

  ManualClock clock_;
  std::unique_ptr<TelnyxSim> sim_;
  std::unique_ptr<httplib::Client> client_;
};

void ExpectError(const httplib::Result& res, int status, const std::string& code) {
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, status) << res->body;
  Json j(res->body);
  ASSERT_OK(j) << res->body;
  EXPECT_EQ(j.Size("/errors"), 1u) << res->body;
  EXPECT_EQ(j.Str("/errors/0/code"), code) << res->body;
  EXPECT_NE(j.Str("/errors/0/title"), "<absent>");
  EXPECT_NE(j.Str("/errors/0/detail"), "<absent>");
}

TEST_F(SimApiTest, RecordStartFollowsTheCallStateMachine) {
  Start();
  auto ids = sim_->PlaceCall(ManualCall());
  ASSERT_OK(ids);
  const std::string body = R"({"format":"wav","channels":"dual"})";
  ExpectError(RecordStart(ids->call_control_id, body), 422, "90034");  // not answered yet
  ASSERT_OK(sim_->AnswerCall(ids->call_control_id));
  auto ok = RecordStart(ids->call_control_id, body);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, R"({"data":{"result":"ok"}})");
  ASSERT_OK(sim_->HangupCall(ids->call_control_id));
  ExpectError(RecordStart(ids->call_control_id, body), 422, "90018");
  Json ended(RecordStart(ids->call_control_id, body)->body);
  EXPECT_EQ(ended.Str("/errors/0/title"), "Call has already ended");
  ExpectError(RecordStart("v3:no-such-call", body), 422, "90015");
  EXPECT_EQ(sim_->RequestCount("POST /v2/calls/{call_control_id}/actions/record_start"), 5u);
}

TEST_F(SimApiTest, RecordStartDecodesTheUrlEncodedCallControlId) {
  Start();
  auto ids = sim_->PlaceCall(ManualCall());
  ASSERT_OK(sim_->AnswerCall(ids->call_control_id));
  ASSERT_EQ(ids->call_control_id.rfind("v3:", 0), 0u);
  // Encoded (%3A) and raw ':' name the same call.
  auto raw = client_->Post(("/v2/calls/" + ids->call_control_id + "/actions/record_start").c_str(),
                           R"({"format":"mp3","channels":"single"})", "application/json");
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->status, 200) << raw->body;
  auto encoded = RecordStart(ids->call_control_id, R"({"format":"mp3","channels":"single"})");
  EXPECT_EQ(encoded->status, 200) << encoded->body;
  Json call = Get("/sim/calls/" + EncodeId(ids->call_control_id));
  EXPECT_EQ(call.Size("/recording_ids"), 2u);
}

TEST_F(SimApiTest, RecordStartRejectsMissingAndInvalidParameters) {
  Start();
  auto ids = sim_->PlaceCall(ManualCall());
  ASSERT_OK(sim_->AnswerCall(ids->call_control_id));
  const std::string& id = ids->call_control_id;
  auto missing = RecordStart(id, R"({"channels":"dual"})");
  ExpectError(missing, 422, "10004");
  EXPECT_EQ(Json(missing->body).Str("/errors/0/source/pointer"), "/format");
  ExpectError(RecordStart(id, R"({"format":"wav"})"), 422, "10004");
  ExpectError(RecordStart(id, R"({"format":"ogg","channels":"dual"})"), 422, "10015");
  ExpectError(RecordStart(id, R"({"format":"wav","channels":"stereo"})"), 422, "10015");
  ExpectError(RecordStart(id, R"({"format":7,"channels":"dual"})"), 422, "10015");
  ExpectError(RecordStart(id, "not json"), 400, "10015");
  ExpectError(RecordStart(id, "[]"), 400, "10015");
  const std::string base = R"({"format":"wav","channels":"dual",)";
  ExpectError(RecordStart(id, base + R"("custom_file_name":"../../etc/passwd"})"), 422, "10015");
  ExpectError(RecordStart(id, base + R"("custom_file_name":")" + std::string(41, 'a') + "\"}"),
              422, "10015");
  ExpectError(RecordStart(id, base + R"("custom_file_name":""})"), 422, "10015");
  ExpectError(RecordStart(id, base + R"("max_length":-1})"), 422, "10015");
  ExpectError(RecordStart(id, base + R"("recording_track":"left"})"), 422, "10015");
  ExpectError(RecordStart(id, base + R"("client_state":"not base64!"})"), 422, "10015");
  // None of the rejected commands started a recording; a full valid one does.
  auto good = RecordStart(id, base + R"("custom_file_name":")" + std::string(40, 'a') +
                                  R"(","trim":"trim-silence","play_beep":false,"max_length":0,)"
                                  R"("recording_track":"both","client_state":"aGk=","command_id":"c1"})");
  EXPECT_EQ(good->status, 200) << good->body;
  EXPECT_EQ(Get("/sim/calls/" + EncodeId(id)).Size("/recording_ids"), 1u);
}

TEST_F(SimApiTest, RepeatedCommandIdIsIgnored) {
  Start();
  auto ids = sim_->PlaceCall(ManualCall());
  ASSERT_OK(sim_->AnswerCall(ids->call_control_id));
  const std::string body = R"({"format":"wav","channels":"dual","command_id":"start-1"})";
  EXPECT_EQ(RecordStart(ids->call_control_id, body)->status, 200);
  EXPECT_EQ(RecordStart(ids->call_control_id, body)->status, 200);
  Json call = Get("/sim/calls/" + EncodeId(ids->call_control_id));
  EXPECT_EQ(call.Size("/recording_ids"), 1u);
  // Another command_id is another command.
  EXPECT_EQ(RecordStart(ids->call_control_id,
                        R"({"format":"wav","channels":"dual","command_id":"start-2"})")->status,
            200);
  EXPECT_EQ(Get("/sim/calls/" + EncodeId(ids->call_control_id)).Size("/recording_ids"), 2u);
  // The same command_id again after the call ended is still ignored, not a 90018.
  ASSERT_OK(sim_->HangupCall(ids->call_control_id));
  EXPECT_EQ(RecordStart(ids->call_control_id, body)->status, 200);
  clock_.Advance(seconds(2));
  Json list = Get("/v2/recordings?filter[call_leg_id]=" + ids->call_leg_id);
  EXPECT_EQ(list.Int("/meta/total_results"), 2);
}

TEST_F(SimApiTest, Fault90020FailsTheFirstAttemptsOnly) {
  Start();
  auto ids = sim_->PlaceCall(ManualCall());
  ASSERT_OK(sim_->AnswerCall(ids->call_control_id));
  auto set = client_->Post("/sim/faults", R"({"record_start_90020_next":2})", "application/json");
  ASSERT_EQ(set->status, 200) << set->body;
  const std::string body = R"({"format":"wav","channels":"dual","command_id":"x"})";
  ExpectError(RecordStart(ids->call_control_id, body), 422, "90020");
  // A failed command does not burn its command_id: the retry with the same id still records.
  ExpectError(RecordStart(ids->call_control_id, body), 422, "90020");
  EXPECT_EQ(RecordStart(ids->call_control_id, body)->status, 200);
  EXPECT_EQ(Get("/sim/faults").Int("/record_start_90020_next"), 0);
  EXPECT_EQ(Get("/sim/calls/" + EncodeId(ids->call_control_id)).Size("/recording_ids"), 1u);
}

TEST_F(SimApiTest, RecordingHasTheDocumentedShapeAndAppearsAfterTheDelay) {
  Start();
  auto ids = sim_->PlaceCall(ManualCall());
  ASSERT_OK(sim_->AnswerCall(ids->call_control_id));
  clock_.Advance(milliseconds(250));
  int64_t started = clock_.WallMillis();
  ASSERT_EQ(RecordStart(ids->call_control_id,
                        R"({"format":"wav","channels":"dual","custom_file_name":"intake_42"})")
                ->status,
            200);
  clock_.Advance(milliseconds(7250));
  ASSERT_OK(sim_->HangupCall(ids->call_control_id));
  EXPECT_EQ(Get("/v2/recordings").Int("/meta/total_results"), 0);  // not saved yet
  clock_.Advance(milliseconds(999));
  EXPECT_EQ(Get("/v2/recordings").Int("/meta/total_results"), 0);
  clock_.Advance(milliseconds(1));
  Json list = Get("/v2/recordings");
  ASSERT_EQ(list.Size("/data"), 1u);
  EXPECT_EQ(list.Keys("/data/0"),
            (std::vector<std::string>{"id", "record_type", "call_control_id", "call_leg_id",
                                      "call_session_id", "conference_id", "channels", "source",
                                      "status", "duration_millis", "recording_started_at",
                                      "recording_ended_at", "created_at", "updated_at",
                                      "download_urls"}));
  EXPECT_EQ(list.Keys("/meta"), (std::vector<std::string>{"page_number", "page_size",
                                                          "total_pages", "total_results"}));
  EXPECT_EQ(list.Str("/data/0/record_type"), "recording");
  EXPECT_EQ(list.Str("/data/0/call_control_id"), ids->call_control_id);
  EXPECT_EQ(list.Str("/data/0/call_leg_id"), ids->call_leg_id);
  EXPECT_EQ(list.Str("/data/0/call_session_id"), ids->call_session_id);
  EXPECT_TRUE(list.IsNull("/data/0/conference_id"));
  EXPECT_EQ(list.Str("/data/0/channels"), "dual");
  EXPECT_EQ(list.Str("/data/0/source"), "call");
  EXPECT_EQ(list.Str("/data/0/status"), "completed");
  EXPECT_EQ(list.Int("/data/0/duration_millis"), 7250);
  EXPECT_EQ(list.Str("/data/0/recording_started_at"), "2026-11-20T15:00:00.250000Z");
  EXPECT_EQ(list.Str("/data/0/recording_ended_at"), "2026-11-20T15:00:07.500000Z");
  std::string url = list.Str("/data/0/download_urls/wav");
  std::string expected_prefix = sim_->base_url() + "/media/" + SimConfig{}.account +
                                "/2026-11-20/intake_42-" + std::to_string(started / 1000) +
                                ".wav?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261120T150008Z"
                                "&X-Amz-Expires=600&X-Amz-Signature=";
  EXPECT_EQ(url.substr(0, expected_prefix.size()), expected_prefix) << url;
  EXPECT_EQ(list.Int("/meta/page_number"), 1);
  EXPECT_EQ(list.Int("/meta/page_size"), 20);
  EXPECT_EQ(list.Int("/meta/total_pages"), 1);
}

TEST_F(SimApiTest, LateAndMissingRecordings) {
  Start();
  CallSpec late = ManualCall();
  late.recording_delay_ms = 120'000;
  CallIds late_ids = RecordedCall("late", late);  // advances 1 s past hangup
  EXPECT_EQ(Get("/v2/recordings?filter[call_leg_id]=" + late_ids.call_leg_id)
                .Int("/meta/total_results"),
            0);
  clock_.Advance(seconds(119));
  EXPECT_EQ(Get("/v2/recordings?filter[call_leg_id]=" + late_ids.call_leg_id)
                .Int("/meta/total_results"),
            1);

  ASSERT_OK(sim_->SetFaults(R"({"recordings_missing":true})"));
  CallIds missing = RecordedCall("missing");
  clock_.Advance(std::chrono::hours(24));
  EXPECT_EQ(Get("/v2/recordings?filter[call_leg_id]=" + missing.call_leg_id)
                .Int("/meta/total_results"),
            0);
  Json call = Get("/sim/calls/" + EncodeId(missing.call_control_id));
  ASSERT_EQ(call.Size("/recording_ids"), 1u);
  Get("/v2/recordings/" + call.Str("/recording_ids/0"), 404);
}

TEST_F(SimApiTest, DocumentedFiltersFilterAndUnknownFiltersAreIgnored) {
  Start();
  CallSpec a = ManualCall("+15550000001");
  a.connection_id = "111";
  CallSpec b = ManualCall("+15550000002");
  b.from = "+15550009999";
  CallIds ida = RecordedCall("intake_a", a);
  int64_t between = clock_.WallMillis();
  clock_.Advance(seconds(10));
  CallIds idb = RecordedCall("intake_b", b);
  auto total = [&](const std::string& q) { return Get("/v2/recordings?" + q).Int("/meta/total_results"); };
  auto first_leg = [&](const std::string& q) { return Get("/v2/recordings?" + q).Str("/data/0/call_leg_id"); };
  EXPECT_EQ(total(""), 2);
  EXPECT_EQ(first_leg("filter[call_leg_id]=" + ida.call_leg_id), ida.call_leg_id);
  EXPECT_EQ(total("filter[call_leg_id]=" + ida.call_leg_id), 1);
  EXPECT_EQ(first_leg("filter[call_session_id]=" + idb.call_session_id), idb.call_leg_id);
  EXPECT_EQ(total("filter[call_session_id]=" + idb.call_session_id), 1);
  EXPECT_EQ(first_leg("filter[connection_id]=111"), ida.call_leg_id);
  EXPECT_EQ(total("filter[connection_id]=111"), 1);
  EXPECT_EQ(first_leg("filter[to]=%2B15550000002"), idb.call_leg_id);
  EXPECT_EQ(total("filter[from]=%2B15550009999"), 1);
  EXPECT_EQ(total("filter[conference_id]=abc"), 0);
  EXPECT_EQ(total("filter%5Bcall_leg_id%5D=" + idb.call_leg_id), 1);  // encoded brackets
  std::string cut = core::FormatRfc3339Millis(between);
  EXPECT_EQ(first_leg("filter[created_at][gte]=" + cut), idb.call_leg_id);
  EXPECT_EQ(total("filter[created_at][gte]=" + cut), 1);
  EXPECT_EQ(first_leg("filter[created_at][lte]=" + cut), ida.call_leg_id);
  EXPECT_EQ(total("filter[created_at][lte]=" + cut), 1);
  ExpectError(client_->Get("/v2/recordings?filter[created_at][gte]=yesterday"), 422, "10033");
  // Not documented, so Telnyx ignores them: a client "filtering" by file name gets everything.
  EXPECT_EQ(total("filter[custom_file_name]=intake_a"), 2);
  EXPECT_EQ(first_leg("filter[custom_file_name]=intake_a"), idb.call_leg_id);
  // Documented since 2026-03: call_control_id, sip_call_id, start/end time, conference_region.
  EXPECT_EQ(total("filter[call_control_id]=" + ida.call_control_id), 1);
  EXPECT_EQ(first_leg("filter[call_control_id]=" + ida.call_control_id), ida.call_leg_id);
  EXPECT_EQ(total("filter[sip_call_id]=abc"), 0);
  EXPECT_EQ(total("filter[start_time][gte]=" + cut), 1);
  EXPECT_EQ(total("filter[end_time][lte]=" + cut), 1);
  EXPECT_EQ(total("filter[conference_region]=Europe"), 0);
  ExpectError(client_->Get("/v2/recordings?filter[conference_region]=Mars"), 422, "10032");
  ExpectError(client_->Get("/v2/recordings?filter[end_time][lte]=soon"), 422, "10033");
  // The spec lists a 404 for the list; with this fault an empty result is one.
  ASSERT_OK(sim_->SetFaults(R"({"recordings_list_404_when_empty":true})"));
  ExpectError(client_->Get("/v2/recordings?filter[sip_call_id]=abc"), 404, "10005");
  EXPECT_EQ(total("filter[call_leg_id]=" + ida.call_leg_id), 1) << "a non-empty list is a list";
}

TEST_F(SimApiTest, ForeignRecordingsAreNewerAndListedFirst) {
  Start();
  ASSERT_OK(sim_->SetFaults(R"({"foreign_recordings":3})"));
  CallIds ids = RecordedCall("intake_mine");
  Json all = Get("/v2/recordings");
  ASSERT_EQ(all.Int("/meta/total_results"), 4);
  // Newest first: the three foreign ones, then ours.
  EXPECT_EQ(all.Str("/data/3/call_leg_id"), ids.call_leg_id);
  EXPECT_NE(all.Str("/data/3/download_urls/wav").find("/intake_mine-"), std::string::npos);
  int same_session = 0;
  for (int i = 0; i < 3; ++i) {
    std::string p = "/data/" + std::to_string(i);
    EXPECT_NE(all.Str(p + "/call_leg_id"), ids.call_leg_id);
    EXPECT_EQ(all.Str(p + "/download_urls/wav").find("/intake_mine-"), std::string::npos);
    EXPECT_GT(all.Str(p + "/created_at"), all.Str("/data/3/created_at"));
    same_session += all.Str(p + "/call_session_id") == ids.call_session_id;
  }
  EXPECT_EQ(same_session, 1);
  // Filtering by session returns the other leg first; only call_leg_id isolates ours.
  Json session = Get("/v2/recordings?filter[call_session_id]=" + ids.call_session_id);
  ASSERT_EQ(session.Int("/meta/total_results"), 2);
  EXPECT_NE(session.Str("/data/0/call_leg_id"), ids.call_leg_id);
  Json leg = Get("/v2/recordings?filter[call_leg_id]=" + ids.call_leg_id);
  ASSERT_EQ(leg.Int("/meta/total_results"), 1);
  EXPECT_EQ(Get("/v2/recordings?filter[custom_file_name]=intake_mine").Int("/meta/total_results"), 4);
}

TEST_F(SimApiTest, PaginationWalksNewestFirstAndRejectsBadPageParameters) {
  Start();
  std::vector<std::string> legs;
  for (int i = 0; i < 5; ++i) legs.push_back(RecordedCall("rec" + std::to_string(i)).call_leg_id);
  std::vector<std::string> seen;
  for (int page = 1; page <= 3; ++page) {
    Json j = Get("/v2/recordings?page[size]=2&page[number]=" + std::to_string(page));
    EXPECT_EQ(j.Int("/meta/page_number"), page);
    EXPECT_EQ(j.Int("/meta/page_size"), 2);
    EXPECT_EQ(j.Int("/meta/total_pages"), 3);
    EXPECT_EQ(j.Int("/meta/total_results"), 5);
    EXPECT_EQ(j.Size("/data"), page < 3 ? 2u : 1u);
    for (size_t i = 0; i < j.Size("/data"); ++i)
      seen.push_back(j.Str("/data/" + std::to_string(i) + "/call_leg_id"));
  }
  EXPECT_EQ(seen, std::vector<std::string>(legs.rbegin(), legs.rend()));
  EXPECT_EQ(Get("/v2/recordings?page[size]=2&page[number]=4").Size("/data"), 0u);
  EXPECT_EQ(Get("/v2/recordings?page[size]=250").Size("/data"), 5u);
  for (const char* q : {"page[size]=0", "page[size]=251", "page[size]=abc", "page[size]=",
                        "page[number]=0", "page[number]=-1", "page[number]=1x"}) {
    auto res = client_->Get((std::string("/v2/recordings?") + q).c_str());
    ExpectError(res, 422, "10015");
    EXPECT_NE(Json(res->body).Str("/errors/0/source/parameter"), "<absent>") << q;
  }
}

TEST_F(SimApiTest, GetAndDeleteRecording) {
  Start();
  RecordedCall("to_delete");
  Json list = Get("/v2/recordings");
  std::string id = list.Str("/data/0/id");
  std::string url = list.Str("/data/0/download_urls/wav");
  Json one = Get("/v2/recordings/" + id);
  EXPECT_EQ(one.Str("/data/id"), id);
  EXPECT_EQ(one.Str("/data/call_leg_id"), list.Str("/data/0/call_leg_id"));
  auto del = client_->Delete(("/v2/recordings/" + id).c_str());
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  EXPECT_EQ(Json(del->body).Str("/data/id"), id);
  ExpectError(client_->Get(("/v2/recordings/" + id).c_str()), 404, "10005");
  ExpectError(client_->Delete(("/v2/recordings/" + id).c_str()), 404, "10005");
  EXPECT_EQ(Get("/v2/recordings").Int("/meta/total_results"), 0);
  auto media = client_->Get(url.substr(sim_->base_url().size()).c_str());
  EXPECT_EQ(media->status, 404);
  EXPECT_NE(media->body.find("<Code>NoSuchKey</Code>"), std::string::npos);
  ExpectError(client_->Get("/v2/recordings/00000000-0000-4000-8000-000000000000"), 404, "10005");
}

TEST_F(SimApiTest, ApiKeyIsRequiredWhenConfigured) {
  SimConfig config;
  config.api_key = "KEY_sim_test";
  Start(config);
  ExpectError(client_->Get("/v2/recordings"), 401, "10009");
  httplib::Headers wrong = {{"Authorization", "Bearer KEY_other"}};
  ExpectError(client_->Get("/v2/recordings", wrong), 401, "10009");
  httplib::Headers right = {{"Authorization", "Bearer KEY_sim_test"}};
  EXPECT_EQ(client_->Get("/v2/recordings", right)->status, 200);
  // The sim's own control routes need no key.
  EXPECT_EQ(client_->Get("/sim/faults")->status, 200);
}

TEST_F(SimApiTest, RateLimitFaultAnswers429WithHeadersThenRecovers) {
  Start();
  ASSERT_OK(sim_->SetFaults(R"({"rate_limit_next":2,"retry_after_s":3,"rate_limit_reset_s":7})"));
  for (int i = 0; i < 2; ++i) {
    auto res = client_->Get("/v2/recordings");
    ExpectError(res, 429, "10011");
    EXPECT_EQ(res->get_header_value("x-ratelimit-limit"), "100");
    EXPECT_EQ(res->get_header_value("x-ratelimit-remaining"), "0");
    EXPECT_EQ(res->get_header_value("x-ratelimit-reset"), "7");
    EXPECT_EQ(res->get_header_value("Retry-After"), "3");
  }
  EXPECT_EQ(client_->Get("/v2/recordings")->status, 200);
  ASSERT_OK(sim_->SetFaults(R"({"rate_limit_next":1,"retry_after_s":-1})"));
  auto res = client_->Get("/v2/recordings");
  EXPECT_EQ(res->status, 429);
  EXPECT_FALSE(res->has_header("Retry-After"));
  EXPECT_EQ(sim_->RequestCount("GET /v2/recordings"), 4u);
}

TEST_F(SimApiTest, ServerErrorFaultAnswersTheConfigured5xx) {
  Start();
  auto ids = sim_->PlaceCall(ManualCall());
  ASSERT_OK(sim_->AnswerCall(ids->call_control_id));
  ASSERT_OK(sim_->SetFaults(R"({"server_error_next":2,"server_error_status":502})"));
  const std::string body = R"({"format":"wav","channels":"dual"})";
  ExpectError(RecordStart(ids->call_control_id, body), 502, "10007");
  ExpectError(client_->Get("/v2/recordings"), 502, "10007");
  EXPECT_EQ(RecordStart(ids->call_control_id, body)->status, 200);
  // A 5xx'd record_start started nothing.
  EXPECT_EQ(Get("/sim/calls/" + EncodeId(ids->call_control_id)).Size("/recording_ids"), 1u);
}

TEST_F(SimApiTest, LatencyFaultDelaysApiAnswers) {
  Start();
  ASSERT_OK(sim_->SetFaults(R"({"latency_ms":150})"));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(client_->Get("/v2/recordings")->status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(150));
}

TEST_F(SimApiTest, FaultsEndpointValidatesAndReports) {
  Start();
  Json before = Get("/sim/faults");
  EXPECT_EQ(before.Int("/recording_delay_ms"), 1000);
  for (const char* bad : {R"({"no_such_fault":1})", R"({"rate_limit_next":"2"})",
                          R"({"server_error_status":404})", R"({"rate_limit_next":-1})",
                          R"({"recordings_missing":1})", "[1]", "nope"}) {
    auto res = client_->Post("/sim/faults", bad, "application/json");
    EXPECT_EQ(res->status, 400) << bad;
    EXPECT_NE(Json(res->body).Str("/error"), "<absent>") << bad;
  }
  // A rejected update changes nothing, even its valid parts.
  EXPECT_EQ(client_->Post("/sim/faults", R"({"rate_limit_next":5,"bogus":1})", "application/json")->status,
            400);
  EXPECT_EQ(Get("/sim/faults").Int("/rate_limit_next"), 0);
  auto ok = client_->Post("/sim/faults", R"({"rate_limit_next":5,"foreign_recordings":2})",
                          "application/json");
  EXPECT_EQ(Json(ok->body).Int("/rate_limit_next"), 5);
  EXPECT_EQ(Get("/sim/faults").Int("/foreign_recordings"), 2);
  client_->Post("/sim/faults", R"({"reset":true})", "application/json");
  EXPECT_EQ(Get("/sim/faults").Int("/rate_limit_next"), 0);
}

TEST_F(SimApiTest, StatsCountRequestsPerRoute) {
  Start();
  EXPECT_EQ(sim_->ApiRequestCount(), 0u);
  Json none = Get("/sim/stats");
  EXPECT_EQ(none.Int("/api_requests"), 0);
  client_->Get("/v2/recordings");
  client_->Get("/v2/recordings?page[size]=1");
  client_->Get("/v2/recordings/abc");
  client_->Get("/v2/no/such/route");
  EXPECT_EQ(sim_->RequestCount("GET /v2/recordings"), 2u);
  EXPECT_EQ(sim_->RequestCount("GET /v2/recordings/{id}"), 1u);
  EXPECT_EQ(sim_->ApiRequestCount(), 4u);
  Json stats = Get("/sim/stats");
  EXPECT_EQ(stats.Int("/requests/GET ~1v2~1recordings"), 2);
  EXPECT_EQ(stats.Int("/api_requests"), 4);
  client_->Delete("/sim/stats");
  EXPECT_EQ(sim_->ApiRequestCount(), 0u);
}

TEST_F(SimApiTest, UnknownApiRouteAnswersTelnyxNotFound) {
  Start();
  ExpectError(client_->Get("/v2/calls"), 404, "10005");
  ExpectError(client_->Post("/v2/calls/v3:x/actions/hangup", "{}", "application/json"), 404, "10005");
  auto other = client_->Get("/nothing/here");
  EXPECT_EQ(other->status, 404);
}

// GET /v2/calls/{id} ("Retrieve a call status"), and a call whose hangup webhook is dropped.
TEST_F(SimApiTest, CallStatusAnswersLikeTelnyxAndForgetsEndedCallsAfterTenMinutes) {
  Start();
  CallSpec spec = ManualCall();
  spec.drop_hangup_webhook = true;
  auto ids = sim_->PlaceCall(spec);
  ASSERT_OK(ids);
  ASSERT_OK(sim_->AnswerCall(ids->call_control_id));
  clock_.Advance(milliseconds(50'000));
  auto alive = client_->Get(("/v2/calls/" + EncodeId(ids->call_control_id)).c_str());
  ASSERT_TRUE(alive);
  EXPECT_EQ(alive->status, 200) << alive->body;
  EXPECT_NE(alive->body.find(R"("is_alive":true,"call_duration":50,)"), std::string::npos) << alive->body;
  Json a(alive->body);
  EXPECT_EQ(a.Str("/data/call_control_id"), ids->call_control_id);
  EXPECT_EQ(a.Str("/data/call_leg_id"), ids->call_leg_id);
  EXPECT_EQ(a.Str("/data/record_type"), "call");
  EXPECT_EQ(a.Str("/data/end_time"), "<absent>");

  ASSERT_OK(sim_->HangupCall(ids->call_control_id));
  Json over = Get("/v2/calls/" + ids->call_control_id);  // raw ':' works too
  EXPECT_FALSE(over.IsNull("/data/end_time"));
  EXPECT_NE(over.Str("/data/end_time"), "<absent>");
  auto body = client_->Get(("/v2/calls/" + EncodeId(ids->call_control_id)).c_str())->body;
  EXPECT_NE(body.find(R"("is_alive":false)"), std::string::npos) << body;

  clock_.Advance(milliseconds(10 * 60 * 1000 + 1));  // Telnyx keeps it 10 minutes
  ExpectError(client_->Get(("/v2/calls/" + EncodeId(ids->call_control_id)).c_str()), 404, "10005");
  ExpectError(client_->Get("/v2/calls/v3%3Ano-such-call"), 404, "10005");
  EXPECT_EQ(sim_->RequestCount("GET /v2/calls/{call_control_id}"), 5u);
}


}  // namespace
}  // namespace callrec::testing

