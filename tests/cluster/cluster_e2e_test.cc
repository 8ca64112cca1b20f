// Cluster mode end to end: three real `callrec serve` nodes on one shared log in the PostgreSQL
// of ./scripts/test, the in-process telnyx-sim, calls whose webhooks and intakes are spread over
// the nodes, and the leader killed (SIGKILL) or paused (SIGSTOP) in the middle; and nodes on a
// PostgreSQL server of the test's own that is stopped and started during a webhook burst.
#include <gtest/gtest.h>

#include <atomic>
#include <ctime>
#include <map>
#include <set>
#include <sstream>

#include "e2e/e2e_env.h"
#include "fakes/private_postgres.h"
#include "fakes/test_postgres.h"
#include "fakes/webhook_signer.h"

namespace callrec::testing::e2e {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class ClusterE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = CreateTestDatabase();
    ASSERT_OK(db);
    url_ = *db;
  }
  void TearDown() override {
    // A sanitizer report in a node fails the test even when that node was about to be killed.
    for (size_t i = 0; i < nodes_.size(); ++i) {
      std::string err = nodes_[i]->Stderr();
      EXPECT_EQ(err.find("WARNING: ThreadSanitizer"), std::string::npos) << "node" << i;
      EXPECT_EQ(err.find("ERROR: AddressSanitizer"), std::string::npos) << "node" << i;
      EXPECT_EQ(err.find("SUMMARY: UndefinedBehaviorSanitizer"), std::string::npos) << "node" << i;
    }
    if (HasFailure())
      for (size_t i = 0; i < nodes_.size(); ++i) {
        std::string err = nodes_[i]->Stderr();
        // A sanitizer's report (both stacks) matters more than the last log lines.
        size_t report = err.find("WARNING: ThreadSanitizer");
        if (report == std::string::npos) report = err.find("ERROR: AddressSanitizer");
        std::cerr << "---- node " << i << " stderr ----\n"
                  << (report != std::string::npos ? err.substr(report, 20000) : E2eEnv::Tail(err, 3000)) << "\n";
      }
    if (HasFailure() && private_pg_) std::cerr << "---- PostgreSQL server log ----\n" << private_pg_->LogTail(3000) << "\n";
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
    return AdminRequest(nodes_[node]->port(), method, path, body, std::chrono::seconds(10));
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
  // The node (other than those killed on purpose) that has exited, e.g. of a sanitizer report;
  // -1 when none.
  int ExitedUnexpectedly() {
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (!killed_.count(i) && !nodes_[i]->running()) return int(i);
    return -1;
  }
  // The intake's state once it is one of `states`, or the last seen. A node that exited unasked
  // ends the wait at once: the webhooks sent to it are lost, and waiting out every flow's deadline
  // for them ran the test into ctest's timeout, which cut the node's report from the output.
  std::string WaitForState(size_t node, const std::string& id, const std::set<std::string>& states, Millis timeout = 30s) {
    std::string state;
    Eventually([&] {
      if (int exited = ExitedUnexpectedly(); exited >= 0) {
        state = "<node" + std::to_string(exited) + " exited>";
        return true;
      }
      state = Json(Api(node, "GET", "/api/intakes/" + id).body).Str("/state");
      return states.count(state) > 0;
    }, timeout);
    return state;
  }

  // One Telnyx delivery of a call.initiated with data.id `id`, signed with `signer`, to `node`.
  // Thread-safe.
  struct Delivery {
    std::string id;
    Clock::time_point sent, answered;
    int status = 0;  // 0: no answer
    bool duplicate = false;
  };
  Delivery PostWebhook(const WebhookSigner& signer, size_t node, const std::string& id) {
    std::string body = R"({"data":{"event_type":"call.initiated","id":")" + id +
                       R"(","occurred_at":"2026-11-20T15:04:12.411000Z","payload":{"call_control_id":"v3:)" + id +
                       R"(","direction":"outgoing","from":"+15550100200","to":"+15550100099"}}})";
    std::string ts = std::to_string(std::time(nullptr));
    httplib::Client client("127.0.0.1", nodes_[node]->port());
    client.set_connection_timeout(2);
    client.set_read_timeout(15);
    Delivery d{id, Clock::now(), {}, 0, false};
    auto res = client.Post("/api/webhooks/telnyx/call-events",
                           {{"telnyx-timestamp", ts}, {"telnyx-signature-ed25519", signer.Sign(ts, body)}}, body,
                           "application/json");
    d.answered = Clock::now();
    if (res) d.status = res->status;
    d.duplicate = res && Json(res->body).Bool("/duplicate") == std::optional<bool>(true);
    return d;
  }

  E2eEnv env_;
  std::string url_;
  std::string public_key_;  // "" : the sim's
  std::unique_ptr<PrivatePostgres> private_pg_;  // outlives the nodes (declared before them)
  std::vector<std::unique_ptr<ServeProcess>> nodes_;
  std::set<size_t> killed_;  // nodes the test killed on purpose
};

// 50 call flows over three nodes (intakes and webhooks on every node; the webhooks of calls in
// flight at a kill go to the nodes that outlive it). The leader is SIGKILLed with calls in flight
// (answered, record_start not yet sent or not yet answered; recordings not yet fetched), then the
// second leader too.
TEST_F(ClusterE2e, ThreeNodesLoseTheirLeaderAndEveryCallIsStillRecordedOnce) {
  const auto test_start = Clock::now();
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
  // `n` intakes created round-robin on `intake_nodes`, each with a held call whose webhooks go
  // round-robin to `webhook_nodes`.
  auto place = [&](int n, const std::vector<size_t>& intake_nodes, const std::vector<size_t>& webhook_nodes) {
    std::vector<Flow> batch;
    for (int k = 0; k < n; ++k) {
      Flow f;
      f.phone = "+1555010" + std::to_string(1000 + flows.size() + batch.size());
      f.id = CreateIntake(intake_nodes[k % intake_nodes.size()], f.phone);
      f.call = PlaceHeldCall(webhook_nodes[(k + 1) % webhook_nodes.size()], f.phone);
      batch.push_back(f);
    }
    flows.insert(flows.end(), batch.begin(), batch.end());
    return batch;
  };
  // Each call is hung up once it records (record_start answered by whoever leads by then).
  auto hang_up_when_recording = [&](const std::vector<Flow>& batch, size_t node) {
    for (auto& f : batch) {
      EXPECT_EQ(WaitForState(node, f.id, {"recording", "failed"}), "recording") << f.id;
      EXPECT_OK(env_.sim().HangupCall(f.call.call_control_id));
    }
  };
  // The hangup webhooks went to nodes that may be killed next: wait until they are in the log
  // (a webhook to a dead node is Telnyx's failover URL's business, not this test's).
  auto wait_hung_up = [&](const std::vector<Flow>& batch, size_t node) {
    for (auto& f : batch)
      EXPECT_NE(WaitForState(node, f.id, {"ended", "fetched", "stored", "failed"}), "recording") << f.id;
  };

  // 20 flows over all three nodes run to their hangup (their recordings not yet fetched); 10
  // more are dialled through the followers and the leader dies as they are answered.
  std::vector<Flow> first = place(20, {0, 1, 2}, {0, 1, 2});
  hang_up_when_recording(first, followers[0]);
  wait_hung_up(first, followers[0]);
  std::vector<Flow> second = place(10, followers, followers);
  // SIGKILL `victim`; the node among `candidates` that then leads (-1: none within 15 s).
  std::vector<int64_t> takeover_ms;
  auto kill_and_wait_for_takeover = [&](size_t victim, const std::vector<size_t>& candidates) {
    auto killed_at = Clock::now();
    if (nodes_[victim]->running()) killed_.insert(victim);  // one that died before stays "exited unasked"
    nodes_[victim]->Signal(SIGKILL);
    nodes_[victim]->WaitExit(10s);
    int next = WaitForLeader(candidates, 15s);
    auto takeover = Clock::now() - killed_at;
    takeover_ms.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(takeover).count());
    EXPECT_LE(takeover, 10s) << "leadership moved in " << takeover_ms.back() << " ms";
    return next;
  };
  int next = kill_and_wait_for_takeover(size_t(leader), followers);
  ASSERT_GE(next, 0) << "no node took over";
  size_t last = followers[0] == size_t(next) ? followers[1] : followers[0];
  hang_up_when_recording(second, last);
  wait_hung_up(first, last);
  wait_hung_up(second, last);

  // 10 flows dialled with intakes on both survivors; the second leader dies as they are answered.
  std::vector<Flow> third = place(10, {size_t(next), last}, {last});
  ASSERT_EQ(kill_and_wait_for_takeover(size_t(next), {last}), int(last));
  hang_up_when_recording(third, last);
  // And the last 10 on the last node alone.
  std::vector<Flow> fourth = place(10, {last}, {last});
  hang_up_when_recording(fourth, last);
  ASSERT_EQ(flows.size(), 50u);

  for (auto& f : flows) {
    EXPECT_EQ(WaitForState(last, f.id, {"stored", "failed"}, 60s), "stored") << f.id;
    Json sim_call = env_.SimCall(f.call.call_control_id);
    EXPECT_EQ(sim_call.Strings("/recording_ids").size(), 1u) << "exactly one recording: " << sim_call.text();
  }
  // Every webhook a node acknowledged (200) is in the log exactly once.
  std::map<std::string, int> in_log;
  std::istringstream keys(*QueryOne(url_, "SELECT string_agg(convert_from(idempotency_key, 'UTF8'), ' ') FROM "
                                          "callrec_log WHERE convert_from(idempotency_key, 'UTF8') LIKE 'telnyx:%'"));
  for (std::string key; keys >> key;) ++in_log[key];
  size_t acknowledged = 0;
  for (const auto& d : env_.sim().WebhookDeliveries()) {
    if (d.status != 200) continue;
    ++acknowledged;
    EXPECT_EQ(in_log["telnyx:" + d.event_id], 1) << d.event_type << " " << d.event_id << " (acknowledged by " << d.url << ")";
  }
  EXPECT_GE(acknowledged, 3 * flows.size()) << "initiated, answered and hangup of every call";
  CommandResult check = RunCallrec({"check", "--event-log", url_});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_EQ(*QueryOne(url_, "SELECT count(*) = max(seq) AND min(seq) = 1 FROM callrec_log"), "t") << "seqs contiguous from 1";
  EXPECT_EQ(*QueryOne(url_, "SELECT count(*) FROM callrec_log WHERE position('\"call.answered\"'::bytea in record) > 0"),
            std::to_string(flows.size()))
      << "each call.answered once, however many times Telnyx delivered it";
  std::cerr << "50 flows, 2 leaders killed; takeovers " << takeover_ms[0] << " ms and " << takeover_ms[1]
            << " ms; test " << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - test_start).count()
            << " ms\n";
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
  std::string term_holder = *QueryOne(url_, "SELECT holder FROM callrec_leader");  // <node-id>#<instance>
  EXPECT_EQ(term_holder.substr(0, term_holder.rfind('#')), "node" + std::to_string(other)) << term_holder;
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
  CommandResult check = RunCallrec({"check", "--event-log", url_});
  EXPECT_EQ(check.exit_code, 0) << check.err;
}

// PostgreSQL unreachable for longer than the lease (a slow failover): nobody can renew it, so the
// leader's term ends while it cannot even learn so. When PostgreSQL is back the old leader's next
// renewal tells it (another term, or another holder): it steps down and exits 1 for its supervisor,
// a node leads under a new term, and what Telnyx retries lands once.
TEST_F(ClusterE2e, ALeaderWhoseLeaseRanOutDuringAnOutageStepsDownAndANodeLeadsAgain) {
  WebhookSigner signer;
  public_key_ = signer.PublicKeyBase64();
  for (size_t i = 0; i < 2; ++i) ASSERT_TRUE(StartNode(i, "1s")) << nodes_[i]->Stderr();
  const int leader = WaitForLeader({0, 1});
  ASSERT_GE(leader, 0);
  const size_t other = 1 - size_t(leader);
  const std::string term_before = *QueryOne(url_, "SELECT term FROM callrec_leader");
  ASSERT_EQ(PostWebhook(signer, size_t(leader), "before-outage").status, 200);

  const std::string admin = std::getenv("CALLREC_TEST_POSTGRES_URL");
  const std::string db = url_.substr(url_.rfind('/') + 1);
  ASSERT_OK(QueryOne(admin, "ALTER DATABASE " + db + " ALLOW_CONNECTIONS false"));
  ASSERT_OK(QueryOne(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + db + "'"));
  std::this_thread::sleep_for(3s);  // the 1 s lease runs out; nobody can renew or take it
  const Delivery during = PostWebhook(signer, other, "during-outage");
  EXPECT_TRUE(nodes_[leader]->running()) << "the leader rides the outage out until it can learn its fate";
  ASSERT_OK(QueryOne(admin, "ALTER DATABASE " + db + " ALLOW_CONNECTIONS true"));
  EXPECT_EQ(during.status, 503) << "never 200 without a commit";

  EXPECT_EQ(nodes_[leader]->WaitExit(20s), 1) << "the old leader steps down and exits 1 for its supervisor";
  EXPECT_NE(nodes_[leader]->Stderr().find("cluster.deposed"), std::string::npos);
  EXPECT_EQ(WaitForLeader({other}, 20s), int(other)) << "the other node leads";
  const std::string term_after = *QueryOne(url_, "SELECT term FROM callrec_leader");
  EXPECT_GT(std::stoull(term_after), std::stoull(term_before)) << "a new term: the old leader's appends are fenced";
  int status = 0;
  EXPECT_TRUE(Eventually([&] { return (status = PostWebhook(signer, other, "during-outage").status) == 200; }, 20s))
      << "Telnyx's retry, last answered " << status;
  EXPECT_EQ(*QueryOne(url_, "SELECT count(*) FROM callrec_log WHERE idempotency_key IN "
                            "('telnyx:before-outage'::bytea, 'telnyx:during-outage'::bytea)"),
            "2")
      << "each once";
  EXPECT_EQ(*QueryOne(url_, "SELECT count(*) = max(seq) AND min(seq) = 1 FROM callrec_log"), "t");
  CommandResult check = RunCallrec({"check", "--event-log", url_});
  EXPECT_EQ(check.exit_code, 0) << check.err;
}

// The PostgreSQL *server* stops (immediate mode: a crash, every session cut) while Telnyx's
// webhooks pour into two nodes, and starts again. The test's own server: the shared one serves
// tests running in parallel. While it is down every webhook is answered 503, never 200; after it
// is back the nodes reconnect by themselves and take webhooks again; Telnyx's retries of the
// 503'd ones land; every webhook is in the log exactly once, seqs contiguous.
TEST_F(ClusterE2e, PostgresServerStoppedDuringABurstAnswers503ThenNothingIsLostOrDoubled) {
  const auto test_start = Clock::now();
  auto pg = PrivatePostgres::Create();
  ASSERT_OK(pg) << "a private PostgreSQL server is required: this test fails, never skips";
  private_pg_ = std::move(*pg);
  url_ = private_pg_->url();
  WebhookSigner signer;
  public_key_ = signer.PublicKeyBase64();
  // A lease longer than the outage: the leader rides it out (past its lease it would be deposed
  // and exit 1, which is APausedLeader...'s subject).
  for (size_t i = 0; i < 2; ++i) ASSERT_TRUE(StartNode(i, "10s")) << nodes_[i]->Stderr();
  ASSERT_GE(WaitForLeader({0, 1}), 0);

  // Four senders, each its own data.ids, alternating between the nodes, until told to stop.
  const Clock::time_point never = Clock::time_point::max();
  std::atomic<Clock::rep> down_from{never.time_since_epoch().count()}, up_from{never.time_since_epoch().count()};
  std::atomic<int> acked{0}, answered_while_down{0}, acked_after_up{0};
  std::atomic<bool> stop{false};
  constexpr int kSenders = 4;
  std::vector<std::vector<Delivery>> answers(kSenders);
  std::vector<std::thread> senders;
  for (int t = 0; t < kSenders; ++t)
    senders.emplace_back([&, t] {
      for (int n = 0; !stop; ++n) {
        Delivery a = PostWebhook(signer, size_t(t + n) % 2, "burst-" + std::to_string(t) + "-" + std::to_string(n));
        auto sent = a.sent.time_since_epoch().count();
        if (a.status == 200) ++acked;
        if (sent >= down_from) ++answered_while_down;
        if (a.status == 200 && sent >= up_from) ++acked_after_up;
        answers[size_t(t)].push_back(std::move(a));
        std::this_thread::sleep_for(20ms);
      }
    });
  auto join = [&] {
    stop = true;
    for (auto& s : senders) s.join();
    senders.clear();
  };

  bool burst_started = Eventually([&] { return acked >= 20; }, 20s);
  if (core::Status st = private_pg_->Stop(); !st.ok()) {
    join();
    FAIL() << st.ToString();
  }
  const auto stopped = Clock::now();
  down_from = stopped.time_since_epoch().count();
  std::this_thread::sleep_for(1s);
  bool answered_down = Eventually([&] { return answered_while_down >= 20; }, 10s);
  const auto restarting = Clock::now();
  core::Status started = private_pg_->Start();
  up_from = Clock::now().time_since_epoch().count();
  bool resumed = started.ok() && Eventually([&] { return acked_after_up >= 20; }, 30s);
  join();
  EXPECT_TRUE(burst_started) << "the nodes took no webhooks before the outage";
  ASSERT_OK(started);
  EXPECT_TRUE(answered_down) << answered_while_down << " answers while PostgreSQL was down";
  EXPECT_TRUE(resumed) << "the nodes took " << acked_after_up << " webhooks after PostgreSQL came back";

  std::map<std::string, int> last_status;  // per data.id
  int down_503 = 0, before = 0, after = 0;
  auto first_ack_after_restart = never;
  for (const auto& per_sender : answers)
    for (const auto& a : per_sender) {
      last_status[a.id] = a.status;
      EXPECT_TRUE(a.status == 200 || a.status == 503) << a.id << " answered " << a.status;
      if (a.sent >= stopped && a.answered <= restarting) {
        EXPECT_EQ(a.status, 503) << a.id << ": sent while PostgreSQL was down";
        down_503 += a.status == 503;
      }
      before += a.answered < stopped;
      after += a.sent > restarting;
      if (a.status == 200 && a.sent > restarting) first_ack_after_restart = std::min(first_ack_after_restart, a.answered);
    }
  EXPECT_GE(down_503, 20) << "503s while PostgreSQL was down";

  // Telnyx retries what was not acknowledged, through the load balancer (either node).
  // A 503 whose COMMIT was cut may have committed: its retry is then answered as a duplicate.
  int retried = 0, committed_before_503 = 0;
  for (auto& [id, status] : last_status) {
    if (status == 200) continue;
    ++retried;
    for (int attempt = 0; status != 200 && attempt < 50; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(100ms);
      Delivery a = PostWebhook(signer, size_t(attempt % 2), id);
      status = a.status;
      committed_before_503 += a.duplicate;
    }
    EXPECT_EQ(status, 200) << id << ": Telnyx's retry did not land";
  }

  // Every data.id sent is in the log exactly once; seqs contiguous from 1.
  std::map<std::string, int> in_log;
  std::istringstream keys(*QueryOne(url_, "SELECT string_agg(convert_from(idempotency_key, 'UTF8'), ' ') FROM "
                                          "callrec_log WHERE convert_from(idempotency_key, 'UTF8') LIKE 'telnyx:burst-%'"));
  for (std::string key; keys >> key;) ++in_log[key];
  EXPECT_EQ(in_log.size(), last_status.size());
  for (const auto& [id, status] : last_status) EXPECT_EQ(in_log["telnyx:" + id], 1) << id;
  EXPECT_EQ(*QueryOne(url_, "SELECT count(*) = max(seq) AND min(seq) = 1 FROM callrec_log"), "t");

  // Both nodes rode out the outage: still up, tail resumed, projections caught up, one leads.
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(nodes_[i]->running()) << "node" << i << " exited";
    // The tail retries with backoff (up to 2 s apart): it may resume after the appends did.
    EXPECT_TRUE(Eventually([&] { return nodes_[i]->Stderr().find("cluster.tail_resumed") != std::string::npos; }, 20s))
        << "node" << i << ": the tail never logged cluster.tail_resumed";
    EXPECT_TRUE(Eventually([&] { return Json(Api(i, "GET", "/readyz").body).Int("/lag_events") == 0; }, 20s))
        << "node" << i << " projection lag: " << Api(i, "GET", "/readyz").body;
  }
  EXPECT_GE(WaitForLeader({0, 1}), 0);
  CommandResult check = RunCallrec({"check", "--event-log", url_});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  std::cerr << "webhooks: " << last_status.size() << " data.ids, " << before << " answered before the stop, "
            << down_503 << " 503s while down, " << after << " sent after the restart, " << retried << " retried ("
            << committed_before_503 << " of them had committed); " << ms(restarting - stopped) << " ms down; first 200 "
            << ms(first_ack_after_restart - restarting) << " ms after the restart began; test "
            << ms(Clock::now() - test_start) << " ms\n";
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
