// The console's data routes and GET /api/intakes/{id}/recording over HTTP, on a real store whose
// derived data the real projector writes (so the newest/ index is the projector's, not ours).
#include <gtest/gtest.h>

#include <fstream>

#include "ingest/console_routes.h"
#include "ingest/intake_queries.h"
#include "ingest_test_env.h"
#include "matchers/status_matchers.h"
#include "projector/projection/projector.h"

namespace callrec::ingest {
namespace {

using testing::IngestEnv;

struct Page {
  int status = -1;
  std::vector<std::string> ids;
  std::string next_before;  // "null" or digits
  std::string body;
};

Page List(IngestEnv& env, const std::string& query) {
  Page p;
  auto res = env.Client().Get(("/api/intakes?" + query).c_str(), env.Admin());
  if (!res) return p;
  p.status = res->status;
  p.body = res->body;
  simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, p.body);
  if (!root.ok()) return p;
  simdjson::dom::array a;
  if (!root->at_pointer("/intakes").get_array().get(a)) {
    for (auto v : a) p.ids.emplace_back(core::JsonString(v, "/id").value_or(""));
  }
  simdjson::dom::element next;
  if (!root->at_pointer("/next_before").get(next)) p.next_before = simdjson::minify(next);
  return p;
}

class ConsoleApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env.config.recording_dir = env.dir.Sub("recordings");
    env.config.fresh_recording_url = [](const std::string&, const std::string& recording_id)
        -> core::Result<std::string> {
      if (recording_id == "gone") return core::Status::NotFound("no such recording");
      return "https://telnyx.example/media/" + recording_id + ".wav?X-Amz-Expires=600";
    };
    env.Start();
  }
  std::string CreateIntake(const std::string& id, const std::string& phone, const std::string& patient) {
    auto res = env.Client().Post("/api/intakes", env.Admin(),
                                 R"({"id":")" + id + R"(","patient_phone":")" + phone +
                                     R"(","patient_id":")" + patient + R"("})",
                                 "application/json");
    EXPECT_TRUE(res && res->status == 201) << (res ? res->body : "no answer");
    created_.push_back(id);
    return id;
  }
  // The real projector over everything appended so far. The env's FakeProjectionProgress wrote
  // bare intake/<id> records so the API could answer 201; the real projector owns that key space
  // (it reads back what it wrote, with its own bookkeeping keys), so those records go first.
  void Project() {
    core::DerivedBatch fake_records;
    for (const std::string& id : created_) fake_records.Delete("intake/" + id);
    ASSERT_OK(env.store->WriteDerived(fake_records));
    auto projector = projector::Projector::Open(*env.store);
    ASSERT_OK(projector);
    core::Status caught_up = (*projector)->CatchUp();
    ASSERT_OK(caught_up);
  }
  // Replaces intake/<id> with a hand-written record (states the pipeline would reach).
  void PutIntake(const std::string& id, const std::string& json) {
    core::DerivedBatch batch;
    batch.Put("intake/" + id, json);
    ASSERT_OK(env.store->WriteDerived(batch));
  }
  std::string WriteRecording(const std::string& id, size_t bytes) {
    std::filesystem::create_directories(env.config.recording_dir + "/" + id);
    std::string path = env.config.recording_dir + "/" + id + "/recording.wav";
    std::string data;
    for (size_t i = 0; i < bytes; ++i) data.push_back(char('A' + i % 26));
    std::ofstream(path, std::ios::binary) << data;
    return path;
  }
  httplib::Result Recording(const std::string& id, httplib::Headers extra = {}) {
    httplib::Headers h = env.Admin();
    h.insert(extra.begin(), extra.end());
    return env.Client().Get(("/api/intakes/" + id + "/recording").c_str(), h);
  }

  IngestEnv env;
  std::vector<std::string> created_;
};

TEST_F(ConsoleApiTest, NewestFirstPagesWithCursor) {
  for (int i = 1; i <= 5; ++i) CreateIntake("in-" + std::to_string(i), "+1555010000" + std::to_string(i), "p" + std::to_string(i));
  Project();
  Page first = List(env, "order=newest&limit=2");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.ids, (std::vector<std::string>{"in-5", "in-4"}));
  ASSERT_NE(first.next_before, "null");
  Page second = List(env, "order=newest&limit=2&before=" + first.next_before);
  EXPECT_EQ(second.ids, (std::vector<std::string>{"in-3", "in-2"}));
  Page third = List(env, "order=newest&limit=2&before=" + second.next_before);
  EXPECT_EQ(third.ids, (std::vector<std::string>{"in-1"}));
  EXPECT_EQ(third.next_before, "null");
  // The default listing is unchanged: id order, no cursor member.
  Page by_id = List(env, "limit=3");
  EXPECT_EQ(by_id.ids, (std::vector<std::string>{"in-1", "in-2", "in-3"}));
  EXPECT_EQ(by_id.body.find("next_before"), std::string::npos);
  EXPECT_EQ(List(env, "order=oldest").status, 400);
  EXPECT_EQ(List(env, "order=newest&before=x").status, 400);
}

TEST_F(ConsoleApiTest, SearchFindsPhoneDigitsPatientIdAndExactId) {
  CreateIntake("alpha", "+15550101234", "pat-7");
  CreateIntake("beta", "+15550109876", "pat-8");
  CreateIntake("gamma", "+15550101234", "pat-9");
  Project();
  EXPECT_EQ(List(env, "q=1234").ids, (std::vector<std::string>{"gamma", "alpha"}));
  EXPECT_EQ(List(env, "q=%2B1%20555%20010%209876").ids, (std::vector<std::string>{"beta"}));
  EXPECT_EQ(List(env, "q=pat-8").ids, (std::vector<std::string>{"beta"}));
  EXPECT_EQ(List(env, "q=alpha").ids, (std::vector<std::string>{"alpha"}));
  EXPECT_EQ(List(env, "q=amm").ids, (std::vector<std::string>{"gamma"}));  // substring of an id
  EXPECT_TRUE(List(env, "q=nothing-like-it").ids.empty());
  EXPECT_TRUE(List(env, "q=alpha&state=failed").ids.empty());
  EXPECT_EQ(List(env, "q=alpha&state=created").ids, (std::vector<std::string>{"alpha"}));
  EXPECT_EQ(List(env, "order=newest&state=created&limit=1").ids, (std::vector<std::string>{"gamma"}));
}

TEST_F(ConsoleApiTest, CountsByState) {
  CreateIntake("a", "+15550100001", "x");
  CreateIntake("b", "+15550100002", "y");
  Project();
  auto res = env.Client().Get("/api/intake-counts", env.Admin());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find(R"("created":2)"), std::string::npos) << res->body;
  EXPECT_NE(res->body.find(R"("failed":0)"), std::string::npos) << res->body;
  EXPECT_NE(res->body.find(R"("total":2)"), std::string::npos) << res->body;
  EXPECT_EQ(env.Client().Get("/api/intake-counts")->status, 401);
  EXPECT_EQ(env.Client().Get("/api/unmatched-webhooks")->status, 401);
  EXPECT_EQ(env.Client().Get("/api/calls-per-day")->status, 401);
}

TEST_F(ConsoleApiTest, UnmatchedWebhooksNewestFirstWithReason) {
  ASSERT_EQ(env.PostWebhook(testing::WebhookBody("w-1"))->status, 200);  // nobody expects it
  ASSERT_EQ(env.PostWebhook(testing::WebhookBody("w-2"))->status, 200);
  Project();
  auto res = env.Client().Get("/api/unmatched-webhooks?limit=1", env.Admin());
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_NE(res->body.find(R"("event_type":"call.answered")"), std::string::npos) << res->body;
  EXPECT_NE(res->body.find(R"("reason":")"), std::string::npos) << res->body;
  EXPECT_NE(res->body.find(R"("recorded_at":")"), std::string::npos) << res->body;
  EXPECT_EQ(env.Client().Get("/api/unmatched-webhooks?limit=0", env.Admin())->status, 400);
}

TEST_F(ConsoleApiTest, CallsPerDayCountsTodaysIntakesByState) {
  CreateIntake("a", "+15550100001", "x");
  Project();
  auto res = env.Client().Get("/api/calls-per-day?days=3", env.Admin());
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_NE(res->body.find(R"("created":1)"), std::string::npos) << res->body;
  EXPECT_NE(res->body.find(R"("complete":true)"), std::string::npos) << res->body;
}

TEST_F(ConsoleApiTest, RecordingNeedsTheToken) {
  CreateIntake("a", "+15550100001", "x");
  auto res = env.Client().Get("/api/intakes/a/recording");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(env.Client().Get("/api/intakes/a/recording", {{"Authorization", "Bearer nope"}})->status, 401);
}

TEST_F(ConsoleApiTest, RecordingStreamsTheStoredCopyWithRanges) {
  std::string path = WriteRecording("rec", 1000);
  PutIntake("rec", R"({"id":"rec","state":"stored","metadata":{"recording_url_storage":"file://)" + path + R"("}})");
  auto whole = Recording("rec");
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->status, 200);
  EXPECT_EQ(whole->body.size(), 1000u);
  EXPECT_EQ(whole->get_header_value("Content-Type"), "audio/wav");
  EXPECT_EQ(whole->get_header_value("Content-Length"), "1000");
  EXPECT_EQ(whole->get_header_value("Accept-Ranges"), "bytes");

  auto part = Recording("rec", {{"Range", "bytes=10-19"}});
  ASSERT_TRUE(part);
  EXPECT_EQ(part->status, 206);
  EXPECT_EQ(part->body, "KLMNOPQRST");
  EXPECT_EQ(part->get_header_value("Content-Range"), "bytes 10-19/1000");
  EXPECT_EQ(part->get_header_value("Content-Length"), "10");

  auto tail = Recording("rec", {{"Range", "bytes=-4"}});
  EXPECT_EQ(tail->status, 206);
  EXPECT_EQ(tail->get_header_value("Content-Range"), "bytes 996-999/1000");
  auto open_end = Recording("rec", {{"Range", "bytes=990-"}});
  EXPECT_EQ(open_end->status, 206);
  EXPECT_EQ(open_end->body.size(), 10u);
  auto past = Recording("rec", {{"Range", "bytes=5000-"}});
  EXPECT_EQ(past->status, 416);
  EXPECT_EQ(past->get_header_value("Content-Range"), "bytes */1000");
  auto several = Recording("rec", {{"Range", "bytes=0-1,5-6"}});
  EXPECT_EQ(several->status, 200);  // answered whole, as RFC 9110 allows
  EXPECT_EQ(several->body.size(), 1000u);
}

TEST_F(ConsoleApiTest, RecordingFallsBackToSupabaseThenTelnyx) {
  PutIntake("sb", R"({"id":"sb","state":"stored","metadata":{"recording_url_supabase":"https://x.supabase.co/o/sb.wav"}})");
  auto sb = Recording("sb");
  EXPECT_EQ(sb->status, 302);
  EXPECT_EQ(sb->get_header_value("Location"), "https://x.supabase.co/o/sb.wav");

  // The stored copy is gone from disk: Telnyx's fresh URL instead.
  PutIntake("tx", R"({"id":"tx","state":"stored","metadata":{"recording_id":"r-1",)"
                  R"("recording_url_storage":"file://)" + env.config.recording_dir + R"(/tx/recording.wav"}})");
  auto tx = Recording("tx");
  EXPECT_EQ(tx->status, 302);
  EXPECT_EQ(tx->get_header_value("Location"), "https://telnyx.example/media/r-1.wav?X-Amz-Expires=600");
  auto as_json = Recording("tx", {{"Accept", "application/json"}});
  EXPECT_EQ(as_json->status, 200);
  EXPECT_NE(as_json->body.find(R"("source":"telnyx")"), std::string::npos) << as_json->body;

  PutIntake("gone", R"({"id":"gone","state":"fetched","metadata":{"recording_id":"gone"}})");
  auto gone = Recording("gone");
  EXPECT_EQ(gone->status, 404);
  EXPECT_NE(gone->body.find("Telnyx no longer has recording gone"), std::string::npos) << gone->body;
}

TEST_F(ConsoleApiTest, RecordingRefusesFilesOutsideTheStorageDir) {
  std::string outside = env.dir.Sub("elsewhere");
  std::filesystem::create_directories(outside + "/ev");
  std::ofstream(outside + "/ev/recording.wav") << "secret";
  PutIntake("ev", R"({"id":"ev","state":"stored","metadata":{"recording_url_storage":"file://)" + outside + R"(/ev/recording.wav"}})");
  auto res = Recording("ev");
  EXPECT_EQ(res->status, 404);
  EXPECT_NE(res->body.find("outside --storage-dir"), std::string::npos) << res->body;
}

TEST_F(ConsoleApiTest, RecordingSays404WhyInWords) {
  EXPECT_EQ(Recording("nobody")->status, 404);
  PutIntake("c", R"({"id":"c","state":"created","metadata":{}})");
  EXPECT_NE(Recording("c")->body.find("no call has been answered"), std::string::npos);
  PutIntake("r", R"({"id":"r","state":"recording","metadata":{}})");
  EXPECT_NE(Recording("r")->body.find("still in progress"), std::string::npos);
  PutIntake("e", R"({"id":"e","state":"ended","next_attempt_at":"2026-11-29T10:00:00.000Z","metadata":{}})");
  EXPECT_NE(Recording("e")->body.find("next query at 2026-11-29T10:00:00.000Z"), std::string::npos);
  PutIntake("f", R"({"id":"f","state":"failed","failure_reason":"recording_not_found",)"
                 R"("last_error":"no recording after 10 queries","metadata":{}})");
  auto f = Recording("f");
  EXPECT_EQ(f->status, 404);
  EXPECT_NE(f->body.find("failed (recording_not_found): no recording after 10 queries"), std::string::npos) << f->body;
}

TEST_F(ConsoleApiTest, ConsoleShellIsServedWithCspForDeepLinks) {
  for (const char* path : {"/console/", "/console/intakes/abc", "/console/health"}) {
    auto res = env.Client().Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 200) << path;
    EXPECT_EQ(res->get_header_value("Content-Security-Policy"), kConsoleCsp) << path;
    EXPECT_NE(res->body.find("<script src=\"/console/app.js\""), std::string::npos) << path;
  }
  auto js = env.Client().Get("/console/app.js");
  EXPECT_EQ(js->status, 200);
  EXPECT_EQ(js->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(env.Client().Get("/console/nope.js")->status, 404);
  EXPECT_EQ(env.Client().Get("/console")->status, 308);
}

TEST(IntakeMatchesTest, PhoneDigitsNeedThreeAndMatchTheEnd) {
  EXPECT_TRUE(IntakeMatches("x", "", "+15550101234", "1234"));
  EXPECT_TRUE(IntakeMatches("x", "", "+15550101234", "+1 (555) 010-1234"));
  EXPECT_FALSE(IntakeMatches("x", "", "+15550101234", "12"));
  EXPECT_FALSE(IntakeMatches("x", "", "+15550101234", "5550"));
  EXPECT_TRUE(IntakeMatches("x", "patient-5550", "+15550101234", "5550"));
}

}  // namespace
}  // namespace callrec::ingest
