// telnyx-sim's Supabase Storage emulation: create/duplicate/upsert/replace, auth, buckets,
// keys, size limit and the storage fault.
#include "telnyx_sim/storage.h"

#include <gtest/gtest.h>

#include "telnyx_sim/test_support.h"
#include "matchers/status_matchers.h"

namespace callrec::testing {
namespace {

// A legacy service_role key is a JWT (header.payload.signature, base64url).
constexpr const char* kKey = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJl";

class SimStorageTest : public ::testing::Test {
 protected:
  void Start(SimConfig config = {}) {
    config.storage_service_key = kKey;
    config.buckets = {{"call-recordings", true}, {"private-audio", false}};
    sim_ = StartSim(clock_, std::move(config));
    ASSERT_NE(sim_, nullptr);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", sim_->port());
  }
  httplib::Headers Auth(bool upsert = false) {
    httplib::Headers h = {{"Authorization", std::string("Bearer ") + kKey}, {"apikey", kKey}};
    if (upsert) h.emplace("x-upsert", "true");
    return h;
  }
  httplib::Result Upload(const std::string& path, const std::string& body, bool upsert = false) {
    return client_->Post(("/storage/v1/object/" + path).c_str(), Auth(upsert), body, "audio/wav");
  }
  void ExpectStorageError(const httplib::Result& res, int http, const std::string& code,
                          const std::string& error) {
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, http) << res->body;
    Json j(res->body);
    EXPECT_EQ(j.Str("/statusCode"), code) << res->body;
    EXPECT_EQ(j.Str("/error"), error) << res->body;
    EXPECT_NE(j.Str("/message"), "<absent>");
  }

  ManualClock clock_;
  std::unique_ptr<TelnyxSim> sim_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(SimStorageTest, CreateThenReadBackAuthenticatedPublicAndHead) {
  Start();
  std::string audio = "RIFF\x01\x02\x00binary\xff";
  auto res = Upload("call-recordings/intake_1/recording.wav", audio);
  ASSERT_EQ(res->status, 200) << res->body;
  Json j(res->body);
  EXPECT_EQ(j.Keys(""), (std::vector<std::string>{"Id", "Key"}));
  EXPECT_EQ(j.Str("/Key"), "call-recordings/intake_1/recording.wav");
  EXPECT_EQ(j.Str("/Id").size(), 36u);
  auto get = client_->Get("/storage/v1/object/call-recordings/intake_1/recording.wav", Auth());
  ASSERT_EQ(get->status, 200);
  EXPECT_EQ(get->body, audio);
  EXPECT_EQ(get->get_header_value("Content-Type"), "audio/wav");
  auto pub = client_->Get("/storage/v1/object/public/call-recordings/intake_1/recording.wav");
  ASSERT_EQ(pub->status, 200);
  EXPECT_EQ(pub->body, audio);
  auto head = client_->Head("/storage/v1/object/public/call-recordings/intake_1/recording.wav");
  ASSERT_EQ(head->status, 200);
  EXPECT_EQ(head->get_header_value("Content-Length"), std::to_string(audio.size()));
  EXPECT_EQ(sim_->storage().GetObjectForTest("call-recordings", "intake_1/recording.wav"), audio);
  EXPECT_EQ(sim_->RequestCount("HEAD /storage/v1/object/public"), 1u);
  EXPECT_EQ(sim_->ApiRequestCount(), 0u);  // storage is not the Telnyx API
}

TEST_F(SimStorageTest, DuplicateCreateIsRejectedUnlessUpsert) {
  Start();
  auto first = Upload("call-recordings/a.wav", "one");
  ASSERT_EQ(first->status, 200);
  ExpectStorageError(Upload("call-recordings/a.wav", "two"), 400, "409", "Duplicate");
  EXPECT_EQ(Json(Upload("call-recordings/a.wav", "two")->body).Str("/message"),
            "The resource already exists");
  EXPECT_EQ(*sim_->storage().GetObjectForTest("call-recordings", "a.wav"), "one");
  auto upsert = Upload("call-recordings/a.wav", "three", /*upsert=*/true);
  ASSERT_EQ(upsert->status, 200) << upsert->body;
  EXPECT_EQ(Json(upsert->body).Str("/Id"), Json(first->body).Str("/Id"));
  EXPECT_EQ(*sim_->storage().GetObjectForTest("call-recordings", "a.wav"), "three");
}

TEST_F(SimStorageTest, PutReplacesOnlyExistingObjects) {
  Start();
  ExpectStorageError(client_->Put("/storage/v1/object/call-recordings/b.wav", Auth(), "x", "audio/wav"),
                     400, "404", "not_found");
  ASSERT_EQ(Upload("call-recordings/b.wav", "old")->status, 200);
  auto put = client_->Put("/storage/v1/object/call-recordings/b.wav", Auth(), "new", "audio/wav");
  ASSERT_EQ(put->status, 200) << put->body;
  EXPECT_EQ(Json(put->body).Str("/Key"), "call-recordings/b.wav");
  EXPECT_EQ(*sim_->storage().GetObjectForTest("call-recordings", "b.wav"), "new");
}

TEST_F(SimStorageTest, WritesAndPrivateReadsNeedTheServiceKey) {
  Start();
  const std::string path = "/storage/v1/object/call-recordings/c.wav";
  auto no_apikey = client_->Post(path.c_str(), {{"Authorization", std::string("Bearer ") + kKey}}, "x", "audio/wav");
  EXPECT_EQ(no_apikey->status, 401);
  EXPECT_NE(Json(no_apikey->body).Str("/message"), "<absent>");
  EXPECT_EQ(client_->Post(path.c_str(), {{"apikey", "wrong"}, {"Authorization", std::string("Bearer ") + kKey}},
                          "x", "audio/wav")->status,
            401);
  // Supabase's errors are HTTP 400 with the code in statusCode.
  ExpectStorageError(client_->Post(path.c_str(), {{"apikey", kKey}}, "x", "audio/wav"), 400, "403",
                     "Unauthorized");
  ExpectStorageError(client_->Post(path.c_str(), {{"apikey", kKey}, {"Authorization", "Bearer wrong"}},
                                   "x", "audio/wav"),
                     400, "403", "Unauthorized");
  ExpectStorageError(client_->Post(path.c_str(), {{"apikey", kKey}, {"Authorization", "Bearer a.b.c"}},
                                   "x", "audio/wav"),
                     400, "403", "Unauthorized");
  EXPECT_EQ(sim_->storage().object_count(), 0u);
  ASSERT_EQ(Upload("call-recordings/c.wav", "x")->status, 200);
  EXPECT_EQ(client_->Get(path.c_str())->status, 401);  // authenticated route without a key
  ASSERT_EQ(Upload("private-audio/d.wav", "secret")->status, 200);
  EXPECT_EQ(client_->Get("/storage/v1/object/private-audio/d.wav", Auth())->body, "secret");
  EXPECT_EQ(client_->Get("/storage/v1/object/authenticated/private-audio/d.wav", Auth())->body, "secret");
  // A private bucket's public URL answers as if the bucket did not exist.
  ExpectStorageError(client_->Get("/storage/v1/object/public/private-audio/d.wav"), 400, "404",
                     "Bucket not found");
}

TEST_F(SimStorageTest, UnknownBucketsMissingObjectsAndHostileKeys) {
  Start();
  ExpectStorageError(Upload("no-such-bucket/e.wav", "x"), 400, "404", "Bucket not found");
  ExpectStorageError(client_->Get("/storage/v1/object/public/call-recordings/missing.wav"), 400,
                     "404", "not_found");
  for (const char* key : {"a/../b.wav", "a//b.wav", "./a.wav", "a/", "a/%00b.wav"}) {
    auto res = Upload(std::string("call-recordings/") + key, "x");
    ASSERT_TRUE(res) << key;
    EXPECT_EQ(res->status, 400) << key << " " << res->body;
  }
  EXPECT_EQ(sim_->storage().object_count(), 0u);
}

TEST_F(SimStorageTest, OversizedUploadsAreRejected) {
  SimConfig config;
  config.storage_max_bytes = 1024;
  Start(config);
  auto res = Upload("call-recordings/big.wav", std::string(2000, 'x'));
  ExpectStorageError(res, 400, "413", "Payload too large");
  EXPECT_EQ(Upload("call-recordings/ok.wav", std::string(1024, 'x'))->status, 200);
}

TEST_F(SimStorageTest, StorageFaultFailsTheNextRequestsOnly) {
  Start();
  ASSERT_OK(sim_->SetFaults(R"({"storage_error_next":2,"storage_error_status":500})"));
  EXPECT_EQ(Upload("call-recordings/f.wav", "x")->status, 500);
  EXPECT_EQ(client_->Get("/v2/recordings")->status, 200);  // the Telnyx API is unaffected
  EXPECT_EQ(Upload("call-recordings/f.wav", "x")->status, 500);
  EXPECT_EQ(sim_->storage().object_count(), 0u);
  EXPECT_EQ(Upload("call-recordings/f.wav", "x")->status, 200);
  EXPECT_EQ(sim_->RequestCount("POST /storage/v1/object"), 3u);
}

TEST_F(SimStorageTest, DeleteRemovesTheObject) {
  Start();
  ASSERT_EQ(Upload("call-recordings/g.wav", "x")->status, 200);
  EXPECT_EQ(client_->Delete("/storage/v1/object/call-recordings/g.wav", Auth())->status, 200);
  ExpectStorageError(client_->Delete("/storage/v1/object/call-recordings/g.wav", Auth()), 400, "404",
                     "not_found");
  EXPECT_EQ(sim_->storage().object_count(), 0u);
}

TEST_F(SimStorageTest, AnyKeyIsAcceptedWhenNoneIsConfigured) {
  SimConfig config;
  sim_ = StartSim(clock_, config);
  client_ = std::make_unique<httplib::Client>("127.0.0.1", sim_->port());
  httplib::Headers any = {{"Authorization", "Bearer x.y.z"}, {"apikey", "x.y.z"}};
  EXPECT_EQ(client_->Post("/storage/v1/object/call-recordings/h.wav", any, "x", "audio/wav")->status, 200);
  EXPECT_EQ(client_->Post("/storage/v1/object/call-recordings/i.wav", "x", "audio/wav")->status, 401);
}

// A new sb_secret_ key is not a JWT: it belongs in apikey only; as a Bearer it is refused.
TEST_F(SimStorageTest, ASecretKeyGoesInApikeyOnlyAndIsRefusedAsABearer) {
  SimConfig config;
  sim_ = StartSim(clock_, config);
  client_ = std::make_unique<httplib::Client>("127.0.0.1", sim_->port());
  const std::string secret = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";
  EXPECT_EQ(client_->Post("/storage/v1/object/call-recordings/j.wav", {{"apikey", secret}}, "x",
                          "audio/wav")->status,
            200);
  ExpectStorageError(client_->Post("/storage/v1/object/call-recordings/k.wav",
                                   {{"apikey", secret}, {"Authorization", "Bearer " + secret}}, "x",
                                   "audio/wav"),
                     400, "403", "Unauthorized");
}

}  // namespace
}  // namespace callrec::testing
