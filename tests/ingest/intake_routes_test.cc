// The intake API over HTTP with a real store and the fake projector.
#include "ingest/intake_routes.h"

#include <gtest/gtest.h>

#include "ingest_test_env.h"
#include "matchers/status_matchers.h"

namespace callrec::ingest {
namespace {

using testing::IngestEnv;
using namespace std::chrono_literals;

struct Answer {
  int status = -1;
  std::string body;
  std::string error, field;
};

Answer Parse(const httplib::Result& res) {
  Answer a;
  if (!res) return a;
  a.status = res->status;
  a.body = res->body;
  simdjson::dom::parser parser;
  auto root = core::ParseJson(parser, a.body);
  if (root.ok()) {
    if (auto e = core::JsonString(*root, "/error")) a.error = *e;
    if (auto f = core::JsonString(*root, "/field")) a.field = *f;
  }
  return a;
}

Answer Create(IngestEnv& env, const std::string& body) {
  return Parse(env.Client().Post("/api/intakes", env.Admin(), body, "application/json"));
}

void PutDerived(IngestEnv& env, const std::string& id, const std::string& state) {
  core::DerivedBatch batch;
  batch.Put("intake/" + id, R"({"id":")" + id + R"(","state":")" + state + R"("})");
  batch.Put("state/" + state + "/" + id, "");
  ASSERT_OK(env.store->WriteDerived(batch));
}

TEST(IntakeRoutes, CreateAppendsTheCanonicalEventAndAnswersTheProjection) {
  IngestEnv env;
  env.Start();
  Answer a = Create(env, R"({"patient_phone":"+1 (555) 123-4567","id":"in-1","patient_id":"p-7",)"
                         R"("metadata":{"clinic":"north","visit":3}})");
  ASSERT_EQ(a.status, 201) << a.body;
  auto events = env.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "intake.created");
  EXPECT_EQ(events[0].source, "api");
  EXPECT_EQ(events[0].intake_id, "in-1");
  EXPECT_EQ(events[0].idempotency_key, "intake.created:in-1");
  EXPECT_EQ(events[0].payload, R"({"id":"in-1","patient_phone":"+15551234567","patient_id":"p-7",)"
                               R"("metadata":{"clinic":"north","visit":3}})");
  // The answer is the projection's intake/<id>, verbatim.
  EXPECT_EQ(a.body, *env.store->GetDerived("intake/in-1").value());
  EXPECT_NE(a.body.find(R"("state":"created")"), std::string::npos);
  EXPECT_EQ(Parse(env.Client().Get("/api/intakes/in-1", env.Admin())).body, a.body);
}

TEST(IntakeRoutes, SameBodyAgainIs200AndAppendsNothingOtherBodyIs409) {
  IngestEnv env;
  env.Start();
  std::string body = R"({"patient_phone":"+15551234567","id":"in-dup"})";
  ASSERT_EQ(Create(env, body).status, 201);
  // Same intake, spelt differently: the canonical payload is what is compared.
  Answer again = Create(env, R"({ "id": "in-dup", "patient_phone": "+1 555 123 4567", "metadata": {} })");
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_NE(again.body.find(R"("id":"in-dup")"), std::string::npos);
  EXPECT_EQ(env.store->LastSeq(), 1u);
  Answer conflict = Create(env, R"({"patient_phone":"+15557654321","id":"in-dup"})");
  EXPECT_EQ(conflict.status, 409) << conflict.body;
  EXPECT_EQ(conflict.field, "id");
  EXPECT_EQ(env.store->LastSeq(), 1u);
}

TEST(IntakeRoutes, GeneratesAUuidFromTheInjectedSource) {
  IngestEnv env;
  env.Start();
  Answer a = Create(env, R"({"patient_phone":"+15551234567"})");
  ASSERT_EQ(a.status, 201) << a.body;
  // The fixture's source yields 0x0123456789abcdef, then 0x0123456789abcdf0.
  EXPECT_NE(a.body.find(R"("id":"01234567-89ab-4def-8123-456789abcdf0")"), std::string::npos) << a.body;
}

TEST(IntakeRoutes, ValidationErrorsName400Fields) {
  IngestEnv env;
  env.Start();
  struct Case {
    std::string body;
    const char* field;
  };
  std::vector<Case> cases = {
      {R"({"patient_phone":"555-1234"})", "patient_phone"},
      {R"({"patient_phone":"+1 555 123 4567 8901 23"})", "patient_phone"},
      {R"({"id":"x"})", "patient_phone"},
      {R"({"patient_phone":"+15551234567","id":"no/slash"})", "id"},
      {R"({"patient_phone":"+15551234567","id":")" + std::string(65, 'a') + "\"}", "id"},
      {R"({"patient_phone":"+15551234567","patient_id":12})", "patient_id"},
      {R"({"patient_phone":"+15551234567","metadata":[]})", "metadata"},
      {R"({"patient_phone":"+15551234567","phone":"+1"})", "phone"},
      {R"({"patient_phone":"+15551234567","patient_id":"a\u0000b"})", "patient_id"},
      {R"({"patient_phone":"+15551234567","metadata":{"note":"\u0000"}})", "metadata"},
  };
  for (const Case& c : cases) {
    Answer a = Create(env, c.body);
    EXPECT_EQ(a.status, 400) << c.body;
    EXPECT_EQ(a.field, c.field) << c.body << " -> " << a.body;
    EXPECT_FALSE(a.error.empty());
  }
  for (std::string body : {"not json", "[1,2]", ""}) {
    Answer a = Create(env, body);
    EXPECT_EQ(a.status, 400) << body;
    EXPECT_FALSE(a.error.empty()) << a.body;
  }
  EXPECT_EQ(env.store->LastSeq(), 0u);
}

// Telnyx's custom_file_name (which the id becomes) is 1-40 characters: a 41-character id would
// be accepted here and then refused by record_start, losing the recording.
TEST(IntakeRoutes, AnIdOver40CharactersIs400NamingTheLimit) {
  IngestEnv env;
  env.Start();
  Answer a = Create(env, R"({"patient_phone":"+15551234567","id":")" + std::string(41, 'a') + "\"}");
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_EQ(a.field, "id");
  EXPECT_NE(a.error.find("1-40"), std::string::npos) << a.error;
  EXPECT_NE(a.error.find("custom_file_name"), std::string::npos) << a.error;
  EXPECT_EQ(env.store->LastSeq(), 0u);
  Answer ok = Create(env, R"({"patient_phone":"+15551234567","id":")" + std::string(40, 'a') + "\"}");
  EXPECT_TRUE(ok.status == 201 || ok.status == 202) << ok.body;
}

TEST(IntakeRoutes, OversizedBodyIs413) {
  IngestEnv env;
  env.Start();
  std::string big = R"({"patient_phone":"+15551234567","metadata":{"notes":")" + std::string(70000, 'x') + "\"}}";
  Answer a = Create(env, big);
  EXPECT_EQ(a.status, 413);
  EXPECT_FALSE(a.error.empty());
  EXPECT_EQ(env.store->LastSeq(), 0u);
}

TEST(IntakeRoutes, ProjectionBehindAnswers202Pending) {
  IngestEnv env;
  env.Start();
  env.progress->set_stalled(true);
  Answer a = Create(env, R"({"patient_phone":"+15551234567","id":"in-slow"})");
  EXPECT_EQ(a.status, 202);
  EXPECT_EQ(a.body, R"({"id":"in-slow","seq":1,"projection":"pending"})");
  EXPECT_EQ(env.store->LastSeq(), 1u) << "the intake is stored even though the answer is pending";
}

TEST(IntakeRoutes, FailingStoreIs503) {
  IngestEnv env;
  env.Start();
  env.faulty->set_fail_appends(true);
  Answer a = Create(env, R"({"patient_phone":"+15551234567","id":"in-503"})");
  EXPECT_EQ(a.status, 503);
  EXPECT_FALSE(a.error.empty());
}

TEST(IntakeRoutes, EveryRouteNeedsTheAdminToken) {
  IngestEnv env;
  env.Start();
  auto c = env.Client();
  httplib::Headers wrong = {{"Authorization", "Bearer nope"}};
  httplib::Headers prefix = {{"Authorization", std::string("Bearer ") + std::string(IngestEnv::kToken).substr(0, 5)}};
  httplib::Headers basic = {{"Authorization", std::string("Basic ") + IngestEnv::kToken}};
  for (const httplib::Headers& h : {httplib::Headers{}, wrong, prefix, basic}) {
    EXPECT_EQ(c.Post("/api/intakes", h, R"({"patient_phone":"+15551234567"})", "application/json")->status, 401);
    EXPECT_EQ(c.Get("/api/intakes", h)->status, 401);
    EXPECT_EQ(c.Get("/api/intakes/x", h)->status, 401);
    EXPECT_EQ(c.Post("/api/intakes/x/retry", h, "", "application/json")->status, 401);
  }
  EXPECT_EQ(env.store->LastSeq(), 0u);
  EXPECT_EQ(c.Get("/api/intakes", env.Admin())->status, 200);
}

TEST(IntakeRoutes, WithoutAConfiguredTokenTheApiSaysHowToEnableIt) {
  IngestEnv env;
  env.config.admin_token.clear();
  env.Start();
  auto c = env.Client();
  // Not even an empty bearer gets in.
  httplib::Headers empty = {{"Authorization", "Bearer "}};
  std::vector<Answer> answers;
  answers.push_back(Parse(c.Get("/api/intakes", empty)));
  answers.push_back(Parse(c.Get("/api/intakes/x")));
  answers.push_back(Parse(c.Post("/api/intakes", R"({"patient_phone":"+15551234567"})", "application/json")));
  answers.push_back(Parse(c.Post("/api/intakes/x/retry", "", "application/json")));
  for (const Answer& a : answers) {
    EXPECT_EQ(a.status, 401);
    EXPECT_NE(a.error.find("CALLREC_ADMIN_TOKEN"), std::string::npos) << a.body;
  }
}

TEST(IntakeRoutes, GetByIdIsVerbatim404Or400) {
  IngestEnv env;
  env.Start();
  PutDerived(env, "known", "answered");
  auto c = env.Client();
  Answer found = Parse(c.Get("/api/intakes/known", env.Admin()));
  EXPECT_EQ(found.status, 200);
  EXPECT_EQ(found.body, R"({"id":"known","state":"answered"})");
  Answer missing = Parse(c.Get("/api/intakes/unknown", env.Admin()));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.error, "no intake with id unknown");
  Answer bad = Parse(c.Get("/api/intakes/bad.id", env.Admin()));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.field, "id");
}

TEST(IntakeRoutes, ListFiltersByStateInIdOrderAndLimits) {
  IngestEnv env;
  env.Start();
  PutDerived(env, "c", "failed");
  PutDerived(env, "a", "failed");
  PutDerived(env, "b", "stored");
  PutDerived(env, "d", "failed");
  auto c = env.Client();
  EXPECT_EQ(Parse(c.Get("/api/intakes?state=failed", env.Admin())).body,
            R"({"intakes":[{"id":"a","state":"failed"},{"id":"c","state":"failed"},{"id":"d","state":"failed"}]})");
  EXPECT_EQ(Parse(c.Get("/api/intakes?state=failed&limit=2", env.Admin())).body,
            R"({"intakes":[{"id":"a","state":"failed"},{"id":"c","state":"failed"}]})");
  EXPECT_EQ(Parse(c.Get("/api/intakes?state=recording", env.Admin())).body, R"({"intakes":[]})");
  Answer all = Parse(c.Get("/api/intakes", env.Admin()));
  EXPECT_EQ(all.body, R"({"intakes":[{"id":"a","state":"failed"},{"id":"b","state":"stored"},)"
                      R"({"id":"c","state":"failed"},{"id":"d","state":"failed"}]})");
  EXPECT_EQ(Parse(c.Get("/api/intakes?limit=1", env.Admin())).body, R"({"intakes":[{"id":"a","state":"failed"}]})");
  // Paging past the last id seen, with and without a state filter.
  EXPECT_EQ(Parse(c.Get("/api/intakes?limit=2&after=a", env.Admin())).body,
            R"({"intakes":[{"id":"b","state":"stored"},{"id":"c","state":"failed"}]})");
  EXPECT_EQ(Parse(c.Get("/api/intakes?state=failed&after=c", env.Admin())).body,
            R"({"intakes":[{"id":"d","state":"failed"}]})");
  EXPECT_EQ(Parse(c.Get("/api/intakes?after=d", env.Admin())).body, R"({"intakes":[]})");
  for (std::string q : {"state=bogus", "state=", "limit=0", "limit=1001", "limit=abc", "limit=-1", "limit=5x",
                        "after=", "after=a/b"}) {
    Answer a = Parse(c.Get("/api/intakes?" + q, env.Admin()));
    EXPECT_EQ(a.status, 400) << q;
    EXPECT_FALSE(a.field.empty()) << q;
  }
  EXPECT_EQ(Parse(c.Get("/api/intakes?limit=1000", env.Admin())).status, 200);
}

TEST(IntakeRoutes, RetryOnlyRearmsFailedIntakes) {
  IngestEnv env;
  env.Start();
  PutDerived(env, "broken", "failed");
  PutDerived(env, "fine", "stored");
  auto c = env.Client();
  EXPECT_EQ(Parse(c.Post("/api/intakes/ghost/retry", env.Admin(), "", "application/json")).status, 404);
  Answer not_failed = Parse(c.Post("/api/intakes/fine/retry", env.Admin(), "", "application/json"));
  EXPECT_EQ(not_failed.status, 409);
  EXPECT_NE(not_failed.error.find("stored"), std::string::npos) << not_failed.body;
  EXPECT_EQ(env.store->LastSeq(), 0u);

  Answer ok = Parse(c.Post("/api/intakes/broken/retry", env.Admin(), "{}", "application/json"));
  EXPECT_EQ(ok.status, 202);
  EXPECT_EQ(ok.body, R"({"id":"broken","seq":1})");
  auto event = env.store->Read(1);
  ASSERT_OK(event);
  EXPECT_EQ(event->type, "intake.retry_requested");
  EXPECT_EQ(event->source, "operator");
  EXPECT_EQ(event->intake_id, "broken");
  EXPECT_EQ(event->payload, R"({"via":"api"})");
}

TEST(IntakeRoutes, LogsNeverCarryTheTokenOrAFullPhoneNumber) {
  IngestEnv env;
  env.Start();
  ASSERT_EQ(Create(env, R"({"patient_phone":"+15551234567","id":"in-log"})").status, 201);
  env.Client().Get("/api/intakes", {{"Authorization", "Bearer guess-token"}});
  std::string logs = testing::LogCapture::All();
  EXPECT_NE(logs.find(R"("msg":"intake.created")"), std::string::npos) << logs;
  EXPECT_NE(logs.find("4567"), std::string::npos) << "the masked phone keeps its last 4 digits";
  EXPECT_EQ(logs.find("5551234567"), std::string::npos) << logs;
  EXPECT_EQ(logs.find(IngestEnv::kToken), std::string::npos);
  EXPECT_EQ(logs.find("guess-token"), std::string::npos);
  EXPECT_NE(logs.find("admin.unauthorized"), std::string::npos);
}

}  // namespace
}  // namespace callrec::ingest
