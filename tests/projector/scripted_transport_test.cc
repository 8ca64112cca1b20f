// Tests the ScriptedTransport fake itself, since other suites rely on its ordering rules.
#include "fakes/scripted_transport.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace callrec::testing {
namespace {

using projector::HttpRequest;

HttpRequest Req(std::string method, std::string url) {
  HttpRequest r;
  r.method = std::move(method);
  r.url = std::move(url);
  return r;
}

TEST(ScriptedTransportTest, ServesMatchingRulesInOrderThenAlways) {
  ScriptedTransport t;
  t.On("GET", "/a", ScriptedTransport::Reply(500))
      .On("GET", "/a", ScriptedTransport::Reply(200, "second"))
      .On("POST", "/a", ScriptedTransport::Reply(201))
      .Always("GET", "/a", ScriptedTransport::Reply(204));
  EXPECT_EQ(t.Send(Req("POST", "http://h/a"))->status, 201);
  EXPECT_EQ(t.Send(Req("GET", "http://h/a"))->status, 500);
  EXPECT_EQ(t.Send(Req("GET", "http://h/a"))->body, "second");
  EXPECT_EQ(t.Send(Req("GET", "http://h/a"))->status, 204);
  EXPECT_EQ(t.Send(Req("GET", "http://h/a"))->status, 204);
  EXPECT_EQ(t.pending(), 0u);
  EXPECT_EQ(t.request_count(), 5u);
  EXPECT_EQ(t.requests()[0].method, "POST");
  t.ExpectAllServed();
}

TEST(ScriptedTransportTest, UnexpectedCallsFailTheTest) {
  ScriptedTransport t;
  EXPECT_NONFATAL_FAILURE((void)t.Send(Req("GET", "http://h/x")), "unscripted request");
  t.On("GET", "", ScriptedTransport::Reply(200));
  t.ExpectNoCalls();
  EXPECT_NONFATAL_FAILURE((void)t.Send(Req("GET", "http://h/x")), "ExpectNoCalls");
  EXPECT_NONFATAL_FAILURE(t.ExpectAllServed(), "never requested");
}

TEST(ScriptedTransportTest, NoAnswerLatencyAndHeaders) {
  ManualClock clock;
  ScriptedTransport t;
  t.SetLatency(&clock, std::chrono::milliseconds(40));
  t.On("", "", ScriptedTransport::NoAnswer("refused"))
      .On("", "", ScriptedTransport::Json(200, "{}", {{"Retry-After", "3"}}));
  auto before = clock.SteadyNow();
  auto none = t.Send(Req("GET", "http://h/"));
  EXPECT_TRUE(none.status().IsUnavailable());
  EXPECT_EQ(none.status().message(), "refused");
  auto ok = t.Send(Req("GET", "http://h/"));
  EXPECT_EQ(ok->Header("retry-after"), "3");
  EXPECT_EQ(ok->Header("content-type"), "application/json");
  EXPECT_EQ(ok->duration, std::chrono::milliseconds(40));
  EXPECT_EQ(clock.SteadyNow() - before, std::chrono::milliseconds(80));
}

TEST(ScriptedTransportTest, FilesLikeCurl) {
  auto dir = std::filesystem::temp_directory_path() / ("scripted_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string up = (dir / "up").string(), down = (dir / "down").string();
  std::ofstream(up) << "upload body";
  ScriptedTransport t;
  t.On("", "", ScriptedTransport::Reply(200, "media"))
      .On("", "", ScriptedTransport::Reply(403, "expired"));
  HttpRequest r = Req("POST", "http://h/");
  r.body_from_file = up;
  r.body_to_file = down;
  auto res = t.Send(r);
  EXPECT_EQ(res->body, "");
  EXPECT_EQ(res->body_bytes, 5u);
  EXPECT_EQ(t.requests()[0].body, "upload body");
  EXPECT_EQ(std::filesystem::file_size(down), 5u);
  auto err = t.Send(r);
  EXPECT_EQ(err->body, "expired");
  EXPECT_EQ(std::filesystem::file_size(down), 0u);
  std::filesystem::remove_all(dir);
}

TEST(ScriptedTransportTest, ThreadSafe) {
  ScriptedTransport t;
  t.Always("", "", ScriptedTransport::Reply(200));
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      for (int j = 0; j < 100; ++j) (void)t.Send(Req("GET", "http://h/"));
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(t.request_count(), 800u);
}

}  // namespace
}  // namespace callrec::testing
