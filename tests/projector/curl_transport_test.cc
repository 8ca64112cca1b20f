#include "projector/clients/curl_transport.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "matchers/status_matchers.h"
#include "projector/clients/media.h"
#include "projector/loopback_server.h"

namespace callrec::projector {
namespace {

using std::chrono::milliseconds;
namespace fs = std::filesystem;

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 12345;
  for (char& c : s) {
    x = x * 1103515245u + 12345u;
    c = char(x >> 24);
  }
  return s;
}

class CurlTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("curl_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    auto& s = server_.server;
    s.Get("/hello", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mu_);
        ports_.insert(req.remote_port);
        last_user_agent_ = req.get_header_value("User-Agent");
        last_auth_ = req.get_header_value("Authorization");
      }
      res.set_header("X-Custom-Header", "Value 1");
      res.set_content("hi " + req.get_param_value("n"), "text/plain");
    });
    s.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.method + ":" + req.body, "text/plain");
    });
    s.Put("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.method + ":" + req.body, "text/plain");
    });
    s.Delete("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.status = 204;
      (void)req;
    });
    s.Get("/big", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(big_, "audio/wav");
    });
    s.Get("/missing", [](const httplib::Request&, httplib::Response& res) {
      res.status = 403;
      res.set_content(
          "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
          "application/xml");
    });
    s.Post("/upload", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      uploaded_ = req.body;
      res.set_content(std::to_string(req.body.size()), "text/plain");
    });
    s.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(milliseconds(600));  // the server's side of a timeout test
      res.set_content("late", "text/plain");
    });
    s.Get("/redirect", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("/hello?n=redirected");
    });
    s.Get("/huge", [](const httplib::Request&, httplib::Response& res) {
      res.set_content_provider(size_t(CurlTransport::kMaxInMemoryBody) + (1 << 20),
                               "application/octet-stream",
                               [chunk = std::string(1 << 16, 'z')](size_t offset, size_t length,
                                                                   httplib::DataSink& sink) {
                                 (void)offset;
                                 sink.write(chunk.data(), std::min(length, chunk.size()));
                                 return true;
                               });
    });
    base_ = server_.Start();
  }
  // The server stops after transport_ is destroyed (members go in reverse order), so no
  // keep-alive connection holds its shutdown.
  void TearDown() override { fs::remove_all(dir_); }

  HttpRequest Get(const std::string& path) {
    HttpRequest r;
    r.url = base_ + path;
    return r;
  }

  fs::path dir_;
  const std::string big_ = Pattern(5 << 20);
  testing::LoopbackServer server_;
  std::string base_;
  std::mutex mu_;
  std::set<int> ports_;
  std::string last_user_agent_, last_auth_, uploaded_;
  CurlTransport transport_;
};

TEST_F(CurlTransportTest, StatusHeadersBodyAndUserAgent) {
  HttpRequest req = Get("/hello?n=1");
  req.headers.emplace_back("Authorization", "Bearer tok");
  auto res = transport_.Send(req);
  ASSERT_OK(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "hi 1");
  EXPECT_EQ(res->body_bytes, 4u);
  EXPECT_EQ(res->Header("x-custom-header"), "Value 1");
  EXPECT_EQ(res->Header("content-type"), "text/plain");
  std::lock_guard lock(mu_);
  EXPECT_EQ(last_user_agent_, "callrec/0.1");
  EXPECT_EQ(last_auth_, "Bearer tok");
}

TEST_F(CurlTransportTest, MethodsAndBodies) {
  HttpRequest post = Get("/echo");
  post.method = "POST";
  post.body = R"({"a":1})";
  EXPECT_EQ(transport_.Send(post)->body, R"(POST:{"a":1})");
  HttpRequest put = post;
  put.method = "PUT";
  EXPECT_EQ(transport_.Send(put)->body, R"(PUT:{"a":1})");
  HttpRequest empty_post = Get("/echo");
  empty_post.method = "POST";
  EXPECT_EQ(transport_.Send(empty_post)->body, "POST:");
  HttpRequest del = Get("/echo");
  del.method = "DELETE";
  EXPECT_EQ(transport_.Send(del)->status, 204);
  HttpRequest head = Get("/big");
  head.method = "HEAD";
  auto h = transport_.Send(head);
  ASSERT_OK(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->Header("content-length"), std::to_string(big_.size()));
  EXPECT_EQ(h->body_bytes, 0u);
}

TEST_F(CurlTransportTest, StreamsDownloadToFile) {
  HttpRequest req = Get("/big");
  req.body_to_file = (dir_ / "big.wav").string();
  auto res = transport_.Send(req);
  ASSERT_OK(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(res->body.empty());
  EXPECT_EQ(res->body_bytes, big_.size());
  auto hashed = HashFile(req.body_to_file);
  ASSERT_OK(hashed);
  EXPECT_EQ(hashed->bytes, big_.size());
  std::ofstream(dir_ / "expected", std::ios::binary) << big_;
  EXPECT_EQ(hashed->sha256, HashFile((dir_ / "expected").string())->sha256);
  EXPECT_EQ(fs::status(req.body_to_file).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(CurlTransportTest, ErrorBodyOfADownloadStaysOutOfTheFile) {
  std::string path = (dir_ / "stale.wav").string();
  std::ofstream(path) << "old content";
  HttpRequest req = Get("/missing");
  req.body_to_file = path;
  auto res = transport_.Send(req);
  ASSERT_OK(res);
  EXPECT_EQ(res->status, 403);
  EXPECT_NE(res->body.find("Request has expired"), std::string::npos);
  EXPECT_EQ(fs::file_size(path), 0u);  // truncated, not left with stale bytes
}

TEST_F(CurlTransportTest, StreamsUploadFromFile) {
  std::string data = Pattern(3 << 20);
  std::string path = (dir_ / "up.wav").string();
  std::ofstream(path, std::ios::binary) << data;
  HttpRequest req = Get("/upload");
  req.method = "POST";
  req.body_from_file = path;
  auto res = transport_.Send(req);
  ASSERT_OK(res);
  EXPECT_EQ(res->body, std::to_string(data.size()));
  std::lock_guard lock(mu_);
  EXPECT_TRUE(uploaded_ == data);
}

// A TUS chunk: a region of the file, read from its offset, no further than its length.
TEST_F(CurlTransportTest, StreamsARegionOfAFile) {
  std::string data = Pattern(1 << 20);
  std::string path = (dir_ / "up.wav").string();
  std::ofstream(path, std::ios::binary) << data;
  HttpRequest req = Get("/upload");
  req.method = "POST";
  req.body_from_file = path;
  req.body_from_file_offset = 1000;
  req.body_from_file_length = 300000;
  auto res = transport_.Send(req);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->body, "300000");
  {
    std::lock_guard lock(mu_);
    EXPECT_TRUE(uploaded_ == data.substr(1000, 300000));
  }
  req.body_from_file_offset = data.size() - 10;  // a length past the end stops at the end
  ASSERT_TRUE(transport_.Send(req).ok());
  std::lock_guard lock(mu_);
  EXPECT_EQ(uploaded_, data.substr(data.size() - 10));
}

TEST_F(CurlTransportTest, ReusesConnections) {
  for (int i = 0; i < 10; ++i) ASSERT_EQ(transport_.Send(Get("/hello"))->status, 200);
  std::lock_guard lock(mu_);
  EXPECT_EQ(ports_.size(), 1u);  // one TCP connection for ten sequential requests
}

TEST_F(CurlTransportTest, ConcurrentSendsFromEightThreads) {
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        std::string n = std::to_string(t * 100 + i);
        auto res = transport_.Send(Get("/hello?n=" + n));
        if (res.ok() && res->status == 200 && res->body == "hi " + n) ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 160);
}

TEST_F(CurlTransportTest, ConnectionRefusedIsUnavailableQuickly) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);  // bound, never listened, now closed: nothing answers on this port
  HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/x";
  req.headers.emplace_back("authorization", "Bearer SECRET-TOKEN");
  auto start = std::chrono::steady_clock::now();
  auto res = transport_.Send(req);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));
  ASSERT_FALSE(res.ok());
  EXPECT_TRUE(res.status().IsUnavailable());
  EXPECT_NE(res.status().message().find("connect"), std::string::npos) << res.status().message();
  EXPECT_EQ(res.status().message().find("SECRET-TOKEN"), std::string::npos);
}

TEST_F(CurlTransportTest, TotalTimeoutIsHonoured) {
  HttpRequest req = Get("/slow");
  req.total_timeout = milliseconds(150);
  auto start = std::chrono::steady_clock::now();
  auto res = transport_.Send(req);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(res.ok());
  EXPECT_TRUE(res.status().IsUnavailable());
  EXPECT_NE(res.status().message().find("timed out"), std::string::npos) << res.status().message();
  EXPECT_LT(took, milliseconds(500));
  EXPECT_GE(took, milliseconds(140));
}

TEST_F(CurlTransportTest, RedirectsOnlyWhenAsked) {
  HttpRequest req = Get("/redirect");
  auto plain = transport_.Send(req);
  ASSERT_OK(plain);
  EXPECT_EQ(plain->status, 302);
  req.follow_redirects = true;
  auto followed = transport_.Send(req);
  ASSERT_OK(followed);
  EXPECT_EQ(followed->status, 200);
  EXPECT_EQ(followed->body, "hi redirected");
  EXPECT_EQ(followed->Header("location"), "");  // only the final response's headers
}

TEST_F(CurlTransportTest, OversizedInMemoryBodyIsRefused) {
  auto res = transport_.Send(Get("/huge"));
  ASSERT_FALSE(res.ok());
  EXPECT_TRUE(res.status().IsUnavailable());
  EXPECT_NE(res.status().message().find("larger than"), std::string::npos);
}

TEST_F(CurlTransportTest, BadRequestsAndLocalFileErrors) {
  HttpRequest inject = Get("/hello");
  inject.headers.emplace_back("x-a", "v\r\nX-Evil: 1");
  EXPECT_EQ(transport_.Send(inject).status().code(), core::StatusCode::kInvalidArgument);
  HttpRequest method = Get("/hello");
  method.method = "get";
  EXPECT_EQ(transport_.Send(method).status().code(), core::StatusCode::kInvalidArgument);
  HttpRequest no_dir = Get("/big");
  no_dir.body_to_file = (dir_ / "no" / "such" / "dir.wav").string();
  EXPECT_EQ(transport_.Send(no_dir).status().code(), core::StatusCode::kFailedPrecondition);
  HttpRequest no_file = Get("/upload");
  no_file.method = "POST";
  no_file.body_from_file = (dir_ / "absent.wav").string();
  EXPECT_EQ(transport_.Send(no_file).status().code(), core::StatusCode::kFailedPrecondition);
}

// A self-signed certificate for 127.0.0.1 must be refused: verification is on.
TEST_F(CurlTransportTest, SelfSignedTlsIsRejected) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  ASSERT_NE(key, nullptr);
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  ASSERT_GT(X509_sign(cert, key, EVP_sha256()), 0);
  std::string cert_path = (dir_ / "cert.pem").string(), key_path = (dir_ / "key.pem").string();
  FILE* f = fopen(cert_path.c_str(), "w");
  PEM_write_X509(f, cert);
  fclose(f);
  f = fopen(key_path.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);

  httplib::SSLServer tls(cert_path.c_str(), key_path.c_str());
  ASSERT_TRUE(tls.is_valid());
  tls.Get("/x", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("x", "text/plain");
  });
  int port = tls.bind_to_any_port("127.0.0.1");
  std::thread th([&] { tls.listen_after_bind(); });
  while (!tls.is_running()) std::this_thread::yield();
  HttpRequest req;
  req.url = "https://127.0.0.1:" + std::to_string(port) + "/x";
  auto res = transport_.Send(req);
  tls.stop();
  th.join();
  ASSERT_FALSE(res.ok());
  EXPECT_TRUE(res.status().IsUnavailable());
  EXPECT_NE(res.status().message().find("certificate"), std::string::npos)
      << res.status().message();
}

}  // namespace
}  // namespace callrec::projector
