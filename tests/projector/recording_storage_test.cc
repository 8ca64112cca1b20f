#include "projector/clients/recording_storage.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "fakes/manual_clock.h"
#include "matchers/status_matchers.h"
#include "projector/clients/curl_transport.h"
#include "projector/clients/media.h"
#include "projector/loopback_server.h"

namespace callrec::projector {
namespace {

namespace fs = std::filesystem;
using core::Status;
using core::StatusCode;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class StorageTestBase : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("storage_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // A local "downloaded" file and its sha256.
  std::pair<std::string, std::string> Local(const std::string& name, const std::string& bytes) {
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return {path, HashFile(path)->sha256};
  }
  fs::path dir_;
};

// ---- FsStorage ----------------------------------------------------------------------------

using FsStorageTest = StorageTestBase;

TEST_F(FsStorageTest, WritesVerifiesAndReportsFileUrl) {
  auto [path, sha] = Local("dl.wav", std::string(100000, 'a') + "end");
  FsStorage storage((dir_ / "recordings").string());
  auto copy = storage.Store("intake_1", path, "wav", sha);
  ASSERT_OK(copy);
  fs::path stored = dir_ / "recordings" / "intake_1" / "recording.wav";
  EXPECT_EQ(ReadAll(stored), ReadAll(path));
  EXPECT_EQ(copy->location, "file://" + stored.string());
  EXPECT_EQ(copy->bytes, 100003u);
  EXPECT_EQ(copy->sha256, sha);
  EXPECT_EQ(fs::status(stored.parent_path()).permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_EQ(fs::status(stored).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  // Only the recording is left in the directory: no temp files.
  int entries = 0;
  for (auto& e : fs::directory_iterator(stored.parent_path())) entries += (void(e), 1);
  EXPECT_EQ(entries, 1);
  EXPECT_STREQ(storage.name(), "fs");
}

TEST_F(FsStorageTest, StoringAgainReplacesTheCopy) {
  FsStorage storage(dir_.string());
  auto [p1, s1] = Local("a.wav", "first version");
  auto [p2, s2] = Local("b.wav", "second, longer version");
  ASSERT_OK(storage.Store("intake_1", p1, "wav", s1));
  ASSERT_TRUE(storage.Store("intake_1", p1, "wav", s1).ok());  // same again: fine
  auto again = storage.Store("intake_1", p2, "wav", s2);
  ASSERT_OK(again);
  EXPECT_EQ(ReadAll(dir_ / "intake_1" / "recording.wav"), "second, longer version");
  EXPECT_EQ(again->sha256, s2);
}

TEST_F(FsStorageTest, RelativeDirectoryGivesAbsoluteLocation) {
  auto [path, sha] = Local("a.mp3", "mp3 bytes");
  fs::path old = fs::current_path();
  fs::current_path(dir_);
  FsStorage storage("rel/dir");
  auto copy = storage.Store("x-1", path, "mp3", sha);
  fs::current_path(old);
  ASSERT_OK(copy);
  EXPECT_EQ(copy->location, "file://" + (dir_ / "rel" / "dir" / "x-1" / "recording.mp3").string());
}

TEST_F(FsStorageTest, WrongExpectedHashIsRefusedAndNothingStored) {
  auto [path, sha] = Local("a.wav", "content");
  FsStorage storage(dir_.string());
  auto copy = storage.Store("intake_1", path, "wav", std::string(64, '0'));
  EXPECT_EQ(copy.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(copy.status().message().find("not the verified file"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "intake_1" / "recording.wav"));
  int entries = 0;
  for (auto& e : fs::directory_iterator(dir_ / "intake_1")) entries += (void(e), 1);
  EXPECT_EQ(entries, 0);  // the temp copy was removed
}

TEST_F(FsStorageTest, UnwritableDirectoryIsAClearError) {
  auto [path, sha] = Local("a.wav", "content");
  // A regular file where a directory should be: fails even for root, unlike chmod.
  std::ofstream(dir_ / "blocker") << "x";
  FsStorage storage((dir_ / "blocker" / "recordings").string());
  auto copy = storage.Store("intake_1", path, "wav", sha);
  EXPECT_EQ(copy.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(copy.status().message().find("blocker"), std::string::npos) << copy.status().message();
  FsStorage file_as_dir((dir_ / "blocker").string());
  EXPECT_EQ(file_as_dir.Store("intake_1", path, "wav", sha).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(FsStorageTest, HostileIdsExtensionsAndMissingFiles) {
  auto [path, sha] = Local("a.wav", "content");
  FsStorage storage(dir_.string());
  for (const std::string& id :
       std::vector<std::string>{"", "..", "../etc", "a/b", "a b", std::string(65, 'a'), "id\n"}) {
    EXPECT_EQ(storage.Store(id, path, "wav", sha).status().code(), StatusCode::kInvalidArgument)
        << id;
  }
  EXPECT_OK(storage.Store(std::string(64, 'a'), path, "wav", sha));
  EXPECT_EQ(storage.Store("intake_1", path, "exe", sha).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      storage.Store("intake_1", (dir_ / "absent").string(), "wav", "").status().IsNotFound());
}

// ---- SupabaseStorage ----------------------------------------------------------------------

// A legacy service_role key: a JWT.
constexpr char kKey[] = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJl";
constexpr char kSecretKey[] = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";

// Emulates the two Storage routes callrec uses, with the documented answers.
class SupabaseStorageTest : public StorageTestBase {
 protected:
  void SetUp() override {
    StorageTestBase::SetUp();
    auto authorized = [](const httplib::Request& req) {
      // A new sb_secret_ key (not a JWT) only in apikey; a JWT key in both headers.
      if (req.get_header_value("apikey") == kSecretKey) return !req.has_header("Authorization");
      return req.get_header_value("Authorization") == std::string("Bearer ") + kKey &&
             req.get_header_value("apikey") == kKey;
    };
    auto& s = server_.server;
    s.Post("/storage/v1/object/([^/]+)/(.+)", [=, this](const httplib::Request& req,
                                                        httplib::Response& res) {
      std::lock_guard lock(mu_);
      ++uploads_;
      if (fail_status_ != 0) {
        res.status = fail_status_;
        res.set_content(R"({"statusCode":"503","error":"busy"})", "application/json");
        return;
      }
      if (!authorized(req)) {
        res.status = 400;
        res.set_content(
            R"({"statusCode":"403","error":"Unauthorized","message":"invalid signature"})",
            "application/json");
        return;
      }
      std::string key = req.matches[1].str() + "/" + req.matches[2].str();
      if (max_bytes_ > 0 && req.body.size() > max_bytes_) {
        res.status = 400;  // Supabase: HTTP 400, the real code in statusCode
        res.set_content(R"({"statusCode":"413","error":"Payload too large","message":"The object exceeded the maximum allowed size"})",
                        "application/json");
        return;
      }
      if (objects_.count(key) && req.get_header_value("x-upsert") != "true") {
        res.status = 400;
        res.set_content(R"({"statusCode":"409","error":"Duplicate"})", "application/json");
        return;
      }
      content_type_ = req.get_header_value("Content-Type");
      objects_[key] = corrupt_ ? req.body.substr(0, req.body.size() / 2) : req.body;
      res.set_content(R"({"Id":"6d3c8c4e-0000-4000-8000-000000000001","Key":")" + key + "\"}",
                      "application/json");
    });
    s.Get("/storage/v1/object/authenticated/([^/]+)/(.+)",
          [=, this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard lock(mu_);
            ++(req.method == "HEAD" ? heads_ : gets_);
            auto it = objects_.find(req.matches[1].str() + "/" + req.matches[2].str());
            if (!authorized(req) || it == objects_.end()) {
              res.status = 404;
              res.set_content(R"({"statusCode":"404","error":"not_found"})", "application/json");
              return;
            }
            res.set_content(it->second, "audio/wav");
          });
    base_ = server_.Start();
  }

  SupabaseStorage Storage(SupabaseStorage::Options options = {}) {
    return SupabaseStorage(transport_, clock_, base_ + "/", "call-recordings", kKey, options);
  }

  testing::LoopbackServer server_;
  std::string base_;
  CurlTransport transport_;
  testing::ManualClock clock_;
  std::mutex mu_;
  std::map<std::string, std::string> objects_;
  std::string content_type_;
  int uploads_ = 0, heads_ = 0, gets_ = 0, fail_status_ = 0;
  size_t max_bytes_ = 0;
  bool corrupt_ = false;
};

TEST_F(SupabaseStorageTest, UploadsVerifiesBySizeAndReportsObjectUrl) {
  std::string audio(2 << 20, 'w');
  auto [path, sha] = Local("dl.wav", audio);
  SupabaseStorage storage = Storage();
  auto copy = storage.Store("intake_1", path, "wav", sha);
  ASSERT_OK(copy);
  EXPECT_EQ(copy->location, base_ + "/storage/v1/object/call-recordings/intake_1/recording.wav");
  EXPECT_EQ(copy->public_url,
            base_ + "/storage/v1/object/public/call-recordings/intake_1/recording.wav");
  EXPECT_EQ(copy->status, 200);
  EXPECT_EQ(copy->bytes, audio.size());
  EXPECT_EQ(copy->sha256, sha);
  EXPECT_NE(copy->response_body.find(R"("Key":"call-recordings/intake_1/recording.wav")"),
            std::string::npos);
  std::lock_guard lock(mu_);
  EXPECT_TRUE(objects_["call-recordings/intake_1/recording.wav"] == audio);
  EXPECT_EQ(content_type_, "audio/wav");
  EXPECT_EQ(heads_, 1);
  EXPECT_EQ(gets_, 0);
}

TEST_F(SupabaseStorageTest, StoringAgainOverwrites) {
  auto [p1, s1] = Local("a.wav", "one");
  auto [p2, s2] = Local("b.mp3", "two two");
  SupabaseStorage storage = Storage();
  ASSERT_OK(storage.Store("intake_1", p1, "wav", s1));
  ASSERT_OK(storage.Store("intake_1", p1, "wav", s1));
  ASSERT_OK(storage.Store("intake_1", p2, "mp3", s2));
  std::lock_guard lock(mu_);
  EXPECT_EQ(objects_["call-recordings/intake_1/recording.wav"], "one");
  EXPECT_EQ(objects_["call-recordings/intake_1/recording.mp3"], "two two");
  EXPECT_EQ(content_type_, "audio/mpeg");
}

TEST_F(SupabaseStorageTest, Sha256VerificationDownloadsTheObject) {
  auto [path, sha] = Local("dl.wav", "some audio bytes");
  SupabaseStorage storage = Storage({.verify_sha256 = true});
  ASSERT_OK(storage.Store("intake_1", path, "wav", sha));
  std::lock_guard lock(mu_);
  EXPECT_EQ(gets_, 1);
  EXPECT_FALSE(fs::exists(path + ".verify"));
}

TEST_F(SupabaseStorageTest, DamagedStoredCopyIsUnavailable) {
  corrupt_ = true;
  auto [path, sha] = Local("dl.wav", std::string(1000, 'q'));
  auto by_size = Storage().Store("intake_1", path, "wav", sha);
  EXPECT_EQ(by_size.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(by_size.status().message().find("500 bytes"), std::string::npos)
      << by_size.status().message();
  auto by_hash = Storage({.verify_sha256 = true}).Store("intake_1", path, "wav", sha);
  EXPECT_EQ(by_hash.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(by_hash.status().message().find("sha256"), std::string::npos);
  EXPECT_FALSE(fs::exists(path + ".verify"));
}

TEST_F(SupabaseStorageTest, RejectedKeyIsFailedPreconditionWithBodyButNoKey) {
  auto [path, sha] = Local("dl.wav", "bytes");
  SupabaseStorage wrong(transport_, clock_, base_, "call-recordings", "WRONG-KEY-999");
  auto copy = wrong.Store("intake_1", path, "wav", sha);
  EXPECT_EQ(copy.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(copy.status().message().find("invalid signature"), std::string::npos);
  EXPECT_EQ(copy.status().message().find("WRONG-KEY-999"), std::string::npos);
}

TEST_F(SupabaseStorageTest, ANewSecretKeyGoesInApikeyOnly) {
  auto [path, sha] = Local("dl.wav", "bytes");
  SupabaseStorage storage(transport_, clock_, base_, "call-recordings", kSecretKey);
  auto copy = storage.Store("intake_1", path, "wav", sha);
  EXPECT_OK(copy);
  EXPECT_TRUE(IsJwt(kKey));
  EXPECT_FALSE(IsJwt(kSecretKey));
  EXPECT_FALSE(IsJwt("a..b"));
}

// Supabase answers an oversize upload as HTTP 400 with statusCode "413": classified by the
// statusCode, it is "too large", which no retry of the same upload can fix.
TEST_F(SupabaseStorageTest, AnOversizeUploadIsTooLargeNotRetriable) {
  max_bytes_ = 100;
  auto [path, sha] = Local("dl.wav", std::string(200, 'x'));
  auto copy = Storage().Store("intake_1", path, "wav", sha);
  EXPECT_TRUE(IsTooLarge(copy.status())) << copy.status().ToString();
  EXPECT_NE(copy.status().message().find("statusCode 413"), std::string::npos);
  EXPECT_FALSE(IsTooLarge(Status::InvalidArgument("other")));
}

TEST_F(SupabaseStorageTest, ServerErrorsAndNoAnswerAreUnavailable) {
  auto [path, sha] = Local("dl.wav", "bytes");
  fail_status_ = 503;
  {
    // Its own transport, gone before Stop(), so no kept-alive connection delays the shutdown.
    CurlTransport transport;
    SupabaseStorage storage(transport, clock_, base_, "call-recordings", kKey);
    EXPECT_EQ(storage.Store("intake_1", path, "wav", sha).status().code(),
              StatusCode::kUnavailable);
  }
  server_.Stop();
  auto down = Storage().Store("intake_1", path, "wav", sha);
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(down.status().message().find("supabase upload"), std::string::npos);
}

TEST_F(SupabaseStorageTest, BadInputsSendNothing) {
  auto [path, sha] = Local("dl.wav", "bytes");
  SupabaseStorage storage = Storage();
  EXPECT_EQ(storage.Store("intake_1", path, "wav", std::string(64, 'f')).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(storage.Store("../x", path, "wav", sha).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(storage.Store("intake_1", path, "ogg", sha).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(storage.Store("intake_1", (dir_ / "nope").string(), "wav", "").status().IsNotFound());
  std::lock_guard lock(mu_);
  EXPECT_EQ(uploads_, 0);
}

}  // namespace
}  // namespace callrec::projector
