// Cluster mode end to end: three real `callrec serve` nodes on one shared log in the PostgreSQL
// of ./scripts/test, the in-process telnyx-sim, calls whose webhooks and intakes are spread over
// the nodes, and the leader killed (SIGKILL) or paused (SIGSTOP) in the middle.
#include <gtest/gtest.h>

#include <atomic>
#include <ctime>

#include "e2e/e2e_env.h"
#include "fakes/test_postgres.h"
#include "fakes/webhook_signer.h"

namespace callrec::testing::e2e {
namespace {

using namespace std::chrono_literals;

class ClusterE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = CreateTestDatabase();
    ASSERT_OK(db);
    url_ = *db;
  }
  void TearDown() override {
    if (HasFailure())
      for (size_t i = 0; i < nodes_.size(); ++i)
        std::cerr << "---- node " << i << " stderr (last 3000 bytes) ----\n"
                  << E2eEnv::Tail(nodes_[i]->Stderr(), 3000) << "\n";
  }

  bool StartNode(size_t i, const std::string& lease = "1500ms") {
    while (nodes_.size() <= i) nodes_.push_back(std::make_unique<ServeProcess>());
    std::vector<std::string> args = {"serve", "--event-log", url_, "--data-dir", env_.log_dir() + "/node" + std::to_string(i),
                                     "--node-id", "node" + std::to_string(i), "--leader-lease", lease,
                                     "--telnyx-api-base", env_.sim().base_url(),
                                     "--telnyx-public-key", public_key_.empty() ? env_.sim().public_key_base64() : public_key_,
                                     "--storage", "fs", "--storage-dir", env_.storage_dir(),
                                     "--fetch-delay", "300ms", "--fetch-interval", "300ms"};
    return nodes_[i]->Start(BinaryPath("callrec"), args, {std::string("CALLREC_ADMIN_TOKEN=") + kAdminToken},
                            env_.log_dir(), "node" + std::to_string(i));
  }
  ApiAnswer Api(size_t node, const std::string& method, const std::string& path, const std::string& body = "") {
    httplib::Client client("127.0.0.1", nodes_[node]->port());
    client.set_connection_timeout(2);
    client.set_read_timeout(10);
    httplib::Headers headers = {{"Authorization", std::string("Bearer ") + kAdminToken}};
    auto res = method == "GET" ? client.Get(path, headers) : client.Post(path, headers, body, "application/json");
    if (!res) return {};
    return {res->status, res->body};
  }
  // The node whose /readyz says it leads, among `alive`; -1 when none (yet).
  int Leader(const std::vector<size_t>& alive) {
    for (size_t i : alive)
      if (Json(Api(i, "GET", "/readyz").body).Bool("/leader") == std::optional<bool>(true)) return int(i);
    return -1;
  }
  int WaitForLeader(const std::vector<size_t>& alive, Millis timeout = 15s) {
    int leader = -1;
    Eventually([&] { return (leader = Leader(alive)) >= 0; }, timeout);
    return leader;
  }
  std::string CreateIntake(size_t node, const std::string& phone) {
    ApiAnswer a = Api(node, "POST", "/api/intakes", "{\"patient_phone\":\"" + phone + "\"}");
    EXPECT_EQ(a.status, 201) << a.body;
    std::string id = Json(a.body).Str("/id");
    // Read-your-writes through the node that wrote it.
    EXPECT_EQ(Api(node, "GET", "/api/intakes/" + id).status, 200);
    return id;
  }
  CallIds PlaceHeldCall(size_t webhook_node, const std::string& to) {
    CallSpec spec;
    spec.to = to;
    spec.webhook_url = nodes_[webhook_node]->webhook_url();
    spec.answer_after_ms = 100;
    spec.hangup_after_ms = -1;
    spec.send_recording_saved = false;
    auto ids = env_.sim().PlaceCall(spec);
    EXPECT_OK(ids);
    return ids.ok() ? *ids : CallIds{};
  }
  std::string WaitForState(size_t node, const std::string& id, const std::set<std::string>& states, Millis timeout = 30s) {
    std::string state;
    Eventually([&] {
      state = Json(Api(node, "GET", "/api/intakes/" + id).body).Str("/state");
      return states.count(state) > 0;
    }, timeout);
    return state;
  }

  E2eEnv env_;
  std::string url_;
  std::string public_key_;  // "" : the sim's
  std::vector<std::unique_ptr<ServeProcess>> nodes_;
};

TEST_F(ClusterE2e, ThreeNodesLoseTheirLeaderAndEveryCallIsStillRecordedOnce) {
  for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(StartNode(i)) << nodes_[i]->Stderr();
  int leader = WaitForLeader({0, 1, 2});
  ASSERT_GE(leader, 0) << "no node leads";
  std::vector<size_t> followers;
  for (size_t i = 0; i < 3; ++i)
    if (int(i) != leader) followers.push_back(i);

  struct Flow {
    std::string id, phone;
    CallIds call;
  };
  std::vector<Flow> flows;
  auto run_calls = [&](int n, const std::vector<size_t>& nodes) {
    std::vector<Flow> batch;
    for (int k = 0; k < n; ++k) {
      Flow f;
      f.phone = "+1555010" + std::to_string(1000 + flows.size() + batch.size());
      f.id = CreateIntake(nodes[k % nodes.size()], f.phone);
      f.call = PlaceHeldCall(nodes[(k + 1) % nodes.size()], f.phone);
      batch.push_back(f);
    }
    for (auto& f : batch) {
      EXPECT_EQ(WaitForState(nodes[0], f.id, {"recording", "failed"}), "recording") << f.id;
      EXPECT_OK(env_.sim().HangupCall(f.call.call_control_id));
    }
    // The hangup webhooks went to nodes that may be killed next: wait until they are in the log
    // (a webhook to a dead node is Telnyx's failover URL's business, not this test's).
    for (auto& f : batch)
      EXPECT_NE(WaitForState(nodes[0], f.id, {"ended", "fetched", "stored", "failed"}), "recording") << f.id;
    flows.insert(flows.end(), batch.begin(), batch.end());
  };
  // Intakes on every node; webhooks to the followers (the leader is about to die).
  run_calls(3, followers);

  auto killed_at = std::chrono::steady_clock::now();
  nodes_[leader]->Signal(SIGKILL);
  nodes_[leader]->WaitExit(10s);
  int next = WaitForLeader(followers, 15s);
  auto takeover = std::chrono::steady_clock::now() - killed_at;
  ASSERT_GE(next, 0) << "no node took over";
  EXPECT_LE(takeover, 10s) << "leadership moved in "
                           << std::chrono::duration_cast<std::chrono::milliseconds>(takeover).count() << " ms";
  run_calls(3, followers);

  // Then the second leader dies too: the last node takes over and finishes everything.
  size_t last = followers[0] == size_t(next) ? followers[1] : followers[0];
  nodes_[next]->Signal(SIGKILL);
  nodes_[next]->WaitExit(10s);
  killed_at = std::chrono::steady_clock::now();
  ASSERT_EQ(WaitForLeader({last}, 15s), int(last));
  EXPECT_LE(std::chrono::steady_clock::now() - killed_at, 10s);
  run_calls(2, {last});

  for (auto& f : flows) {
    EXPECT_EQ(WaitForState(last, f.id, {"stored", "failed"}), "stored") << f.id;
    Json sim_call = env_.SimCall(f.call.call_control_id);
    EXPECT_EQ(sim_call.Strings("/recording_ids").size(), 1u) << "exactly one recording: " << sim_call.text();
  }
  CommandResult check = RunCommand({BinaryPath("callrec"), "check", "--event-log", url_});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_EQ(*QueryOne(url_, "SELECT count(*) = max(seq) FROM callrec_log"), "t");
  EXPECT_EQ(*QueryOne(url_, "SELECT count(*) FROM callrec_log WHERE position('\"call.answered\"'::bytea in record) > 0"),
            std::to_string(flows.size()))
      << "each call.answered once, however many times Telnyx delivered it";
}

// The SIGSTOP case: a paused leader is replaced; resumed, it is fenced, steps down and exits 1.
TEST_F(ClusterE2e, APausedLeaderIsReplacedAndStepsDownWhenItResumes) {
  for (size_t i = 0; i < 2; ++i) ASSERT_TRUE(StartNode(i, "1s")) << nodes_[i]->Stderr();
  int leader = WaitForLeader({0, 1});
  ASSERT_GE(leader, 0);
  size_t other = 1 - size_t(leader);
  nodes_[leader]->Signal(SIGSTOP);
  EXPECT_EQ(WaitForLeader({other}, 10s), int(other)) << "the other node takes over after the lease";
  nodes_[leader]->Signal(SIGCONT);
  EXPECT_EQ(nodes_[leader]->WaitExit(15s), 1) << "deposed: it stops and exits 1 for its supervisor to restart";
  EXPECT_NE(nodes_[leader]->Stderr().find("cluster.deposed"), std::string::npos);
  std::string term_holder = *QueryOne(url_, "SELECT holder FROM callrec_leader");
  EXPECT_EQ(term_holder, "node" + std::to_string(other));
}

// PostgreSQL unreachable for this database (connections refused and cut, as in a failover):
// requests that need an append answer 503, never 2xx; once it is back the same request succeeds,
// once.
TEST_F(ClusterE2e, WhilePostgresIsUnreachableAppendsAnswer503AndNothingIsLostOrDoubled) {
  ASSERT_TRUE(StartNode(0)) << nodes_[0]->Stderr();
  ASSERT_EQ(WaitForLeader({0}), 0);
  const std::string admin = std::getenv("CALLREC_TEST_POSTGRES_URL");
  const std::string db = url_.substr(url_.rfind('/') + 1);
  ASSERT_OK(QueryOne(admin, "ALTER DATABASE " + db + " ALLOW_CONNECTIONS false"));
  ASSERT_OK(QueryOne(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + db + "'"));
  const std::string body = R"({"patient_phone":"+15550109999","id":"outage-1"})";
  for (int i = 0; i < 3; ++i) {
    ApiAnswer a = Api(0, "POST", "/api/intakes", body);
    EXPECT_EQ(a.status, 503) << "attempt " << i << ": " << a.body;
  }
  EXPECT_EQ(Api(0, "GET", "/healthz").status, 200) << "the node stays up and says why it refuses";
  ASSERT_OK(QueryOne(admin, "ALTER DATABASE " + db + " ALLOW_CONNECTIONS true"));
  int status = 0;
  EXPECT_TRUE(Eventually([&] { return (status = Api(0, "POST", "/api/intakes", body).status) == 201; }, 20s))
      << "last status " << status;
  EXPECT_EQ(Json(Api(0, "GET", "/api/intakes/outage-1").body).Str("/state"), "created");
  EXPECT_EQ(*QueryOne(url_, "SELECT count(*) FROM callrec_log WHERE idempotency_key = 'intake.created:outage-1'::bytea"),
            "1");
  CommandResult check = RunCommand({BinaryPath("callrec"), "check", "--event-log", url_});
  EXPECT_EQ(check.exit_code, 0) << check.err;
}

// The same Telnyx delivery arriving at every node at once (a retry racing the original through
// the load balancer): each node answers 200, and the log holds it once.
TEST_F(ClusterE2e, RacingDuplicatesOfOneDataIdOnAllThreeNodesMakeOneEvent) {
  WebhookSigner signer;
  public_key_ = signer.PublicKeyBase64();
  for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(StartNode(i)) << nodes_[i]->Stderr();
  constexpr int kRounds = 10;
  for (int round = 0; round < kRounds; ++round) {
    std::string id = "race-" + std::to_string(round);
    std::string body = R"({"data":{"event_type":"call.initiated","id":")" + id +
                       R"(","occurred_at":"2026-11-20T15:04:12.411000Z","payload":{"call_control_id":"v3:)" + id +
                       R"(","direction":"outgoing","from":"+15550100200","to":"+15550100099"}}})";
    std::string ts = std::to_string(std::time(nullptr));
    httplib::Headers headers = {{"telnyx-timestamp", ts}, {"telnyx-signature-ed25519", signer.Sign(ts, body)}};
    std::atomic<int> ready{0}, firsts{0}, oks{0};
    std::vector<std::thread> senders;
    for (size_t n = 0; n < 3; ++n)
      senders.emplace_back([&, n] {
        httplib::Client client("127.0.0.1", nodes_[n]->port());
        client.set_read_timeout(10);
        ++ready;
        while (ready < 3) std::this_thread::yield();
        auto res = client.Post("/api/webhooks/telnyx/call-events", headers, body, "application/json");
        if (res && res->status == 200) {
          ++oks;
          if (Json(res->body).Bool("/duplicate") == std::optional<bool>(false)) ++firsts;
        }
      });
    for (auto& t : senders) t.join();
    EXPECT_EQ(oks.load(), 3) << id;
    EXPECT_EQ(firsts.load(), 1) << id << ": one node stored it, the others answered duplicate";
  }
  EXPECT_EQ(*QueryOne(url_, "SELECT count(*) FROM callrec_log WHERE convert_from(idempotency_key, 'UTF8') LIKE 'telnyx:race-%'"),
            std::to_string(kRounds));
}

}  // namespace
}  // namespace callrec::testing::e2e
