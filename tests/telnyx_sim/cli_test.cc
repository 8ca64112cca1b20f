// The `telnyx-sim` binary end to end: serve with --port-file, place a call with `call`,
// usage errors, key commands. Uses short real durations (an end-to-end test).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "fakes/temp_dir.h"
#include "telnyx_sim/test_support.h"
#include "matchers/status_matchers.h"

namespace callrec::testing {
namespace {

const std::string kSim = std::string(CALLREC_BINARY_DIR) + "/telnyx-sim";
const std::string kDemoKey = std::string(CALLREC_SOURCE_DIR) + "/data/demo-keys/telnyx-sim-private.pem";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Starts `kSim args...` with stdout/stderr to files; returns the pid.
pid_t Spawn(const std::vector<std::string>& args, const std::string& out, const std::string& err) {
  pid_t pid = fork();
  if (pid == 0) {
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(kSim.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(kSim.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct SimRun {
  int code;
  std::string out;
  std::string err;
};

SimRun RunSim(const std::vector<std::string>& args) {
  TempDir dir;
  pid_t pid = Spawn(args, dir.Sub("out"), dir.Sub("err"));
  int code = Wait(pid);
  return {code, ReadFile(dir.Sub("out")), ReadFile(dir.Sub("err"))};
}

TEST(SimCli, HelpExplainsAndUsageErrorsExitTwo) {
  SimRun help = RunSim({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("simulator of Telnyx"), std::string::npos);
  EXPECT_NE(help.out.find("serve"), std::string::npos);
  SimRun serve_help = RunSim({"serve", "--help"});
  EXPECT_EQ(serve_help.code, 0);
  EXPECT_NE(serve_help.out.find("--port-file"), std::string::npos);
  EXPECT_NE(serve_help.out.find("--foreign-recordings"), std::string::npos);
  EXPECT_EQ(RunSim({}).code, 2);
  EXPECT_EQ(RunSim({"serve", "--no-such-flag"}).code, 2);
  SimRun bad_listen = RunSim({"serve", "--listen", "nowhere"});
  EXPECT_EQ(bad_listen.code, 2);
  EXPECT_NE(bad_listen.err.find("--listen"), std::string::npos);
  SimRun bad_duration = RunSim({"serve", "--url-expiry", "5 parsecs"});
  EXPECT_EQ(bad_duration.code, 2);
  EXPECT_NE(bad_duration.err.find("--url-expiry"), std::string::npos);
  SimRun bad_fault = RunSim({"serve", "--server-error-status", "404"});
  EXPECT_EQ(bad_fault.code, 2);
  EXPECT_NE(bad_fault.err.find("server_error_status"), std::string::npos);
  SimRun bad_key = RunSim({"serve", "--signing-key", "/nonexistent.pem"});
  EXPECT_EQ(bad_key.code, 2);
  SimRun bad_call = RunSim({"call", "--sim", "http://127.0.0.1:1", "--to", "12345"});
  EXPECT_EQ(bad_call.code, 2);
  EXPECT_NE(bad_call.err.find("to must be"), std::string::npos);
  SimRun no_sim = RunSim({"call", "--sim", "http://127.0.0.1:1", "--to", "+15550123456"});
  EXPECT_EQ(no_sim.code, 1);
}

TEST(SimCli, PublicKeyAndKeygen) {
  SimRun pub = RunSim({"public-key", "--signing-key", kDemoKey});
  EXPECT_EQ(pub.code, 0);
  EXPECT_EQ(pub.out, ReadFile(std::string(CALLREC_SOURCE_DIR) + "/data/demo-keys/telnyx-sim-public.b64"));
  TempDir dir;
  SimRun gen = RunSim({"keygen", "--private-out", dir.Sub("k.pem"), "--public-out", dir.Sub("k.b64")});
  ASSERT_EQ(gen.code, 0) << gen.err;
  EXPECT_EQ(gen.out, ReadFile(dir.Sub("k.b64")));
  SimRun again = RunSim({"public-key", "--signing-key", dir.Sub("k.pem")});
  EXPECT_EQ(again.out, gen.out);
}

TEST(SimCli, ServeWritesItsPortAndTakesCallsFromTheCallCommand) {
  TempDir dir;
  WebhookReceiver receiver;
  pid_t pid = Spawn({"serve", "--listen", "127.0.0.1:0", "--port-file", dir.Sub("port"),
                     "--signing-key", kDemoKey, "--public-key-file", dir.Sub("pub"),
                     "--recording-delay", "0s"},
                    dir.Sub("out"), dir.Sub("err"));
  std::string port_text;
  for (int i = 0; i < 500 && port_text.empty(); ++i) {  // up to 5 s for the process to start
    port_text = ReadFile(dir.Sub("port"));
    if (port_text.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(port_text.empty()) << ReadFile(dir.Sub("err"));
  int port = std::stoi(port_text);
  EXPECT_EQ(port_text, std::to_string(port) + "\n");
  std::string base = "http://127.0.0.1:" + std::to_string(port);

  SimRun call = RunSim({"call", "--sim", base, "--to", "+15550123456", "--webhook-url", receiver.url(),
                     "--answer-after", "0ms", "--hangup-after", "300ms"});
  ASSERT_EQ(call.code, 0) << call.err;
  Json ids(call.out);
  ASSERT_OK(ids) << call.out;
  EXPECT_EQ(ids.Str("/call_control_id").rfind("v3:", 0), 0u);
  auto got = receiver.WaitFor(3);
  ASSERT_EQ(got.size(), 3u);
  std::string pub = ReadFile(dir.Sub("pub"));
  pub.pop_back();
  auto raw = core::Base64Decode(pub);
  for (const auto& d : got)
    EXPECT_TRUE(VerifyEd25519(*raw, d.timestamp + "|" + d.body, *core::Base64Decode(d.signature)));
  EXPECT_EQ(Json(got[2].body).Str("/data/event_type"), "call.hangup");
  httplib::Client client("127.0.0.1", port);
  EXPECT_EQ(Json(client.Get(("/sim/calls/" + EncodeId(ids.Str("/call_control_id"))).c_str())->body)
                .Str("/state"),
            "hangup");

  kill(pid, SIGTERM);
  EXPECT_EQ(Wait(pid), 0);
  EXPECT_EQ(ReadFile(dir.Sub("out")), "");  // stdout stays clean; logs go to stderr
  std::string err = ReadFile(dir.Sub("err"));
  std::string listening = err.substr(0, err.find('\n'));
  Json line(listening);
  ASSERT_OK(line) << listening;
  EXPECT_EQ(line.Str("/msg"), "sim.listening");
  EXPECT_EQ(line.Int("/port"), port);
  EXPECT_EQ(err.find("+15550123456"), std::string::npos) << "phone numbers are masked in logs";
}

}  // namespace
}  // namespace callrec::testing
