// serve_process.h — runs `callrec serve` (or any long-lived binary) as a child process for the
// end-to-end tests: fork/exec with stdout and stderr in files, wait until it listens and is
// ready, signal it, and collect its exit status with a deadline.
//
//   ServeProcess serve;
//   ASSERT_TRUE(serve.Start(BinaryPath("callrec"), {"serve", "--data-dir", dir, ...},
//                           {"CALLREC_ADMIN_TOKEN=t"}, log_dir)) << serve.Stderr();
//   ... serve.port() ...
//   serve.Signal(SIGTERM);
//   EXPECT_EQ(serve.WaitExit(std::chrono::seconds(10)), 0);
//
// The child's environment is the test's minus every CALLREC_*, TELNYX_* and SUPABASE_* variable
// (so a developer's shell cannot change what a test sees), plus `env`. `--listen 127.0.0.1:0
// --port-file <log_dir>/<name>.port` are added by Start(). The destructor SIGKILLs a child that is
// still running and reaps it, so a failed assertion never leaks a process.
//
// Thread-safety: one test thread uses an instance.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace callrec::testing {

using Millis = std::chrono::milliseconds;

inline std::string ReadFileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The test's environment without variables that configure callrec, plus `extra` ("K=V").
inline std::vector<std::string> ChildEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    if (kv.starts_with("CALLREC_") || kv.starts_with("TELNYX_") || kv.starts_with("SUPABASE_")) continue;
    env.emplace_back(kv);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

class ServeProcess {
 public:
  ServeProcess() = default;
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;
  ~ServeProcess() {
    if (running()) {
      Signal(SIGKILL);
      WaitExit(std::chrono::seconds(10));
    }
  }

  // Spawns `binary args... --listen 127.0.0.1:0 --port-file F` and waits (up to `timeout`) until
  // the port file names a port and GET /readyz answers 200. False when the child exits first or
  // the deadline passes; Stderr() then tells why.
  bool Start(const std::string& binary, std::vector<std::string> args, const std::vector<std::string>& env,
             const std::string& log_dir, const std::string& name = "serve",
             Millis timeout = std::chrono::seconds(15)) {
    port_file_ = log_dir + "/" + name + "-" + std::to_string(starts_ + 1) + ".port";
    args.insert(args.end(), {"--listen", "127.0.0.1:0", "--port-file", port_file_});
    if (!Spawn(binary, args, env, log_dir, name)) return false;
    return WaitReady(timeout);
  }

  // Spawns without waiting for readiness (e.g. for programs expected to fail at start); stdout
  // and stderr go to <log_dir>/<name>-<n>.stdout/.stderr.
  bool Spawn(const std::string& binary, const std::vector<std::string>& args,
             const std::vector<std::string>& env, const std::string& log_dir,
             const std::string& name = "serve") {
    if (running()) return false;  // one child at a time
    ++starts_;
    std::string base = log_dir + "/" + name + "-" + std::to_string(starts_);
    stdout_path_ = base + ".stdout";
    stderr_path_ = base + ".stderr";
    exit_status_.reset();
    pid_ = -1;
    port_ = 0;
    // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
    std::vector<std::string> argv_s = {binary};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<std::string> env_s = ChildEnvironment(env);
    std::vector<char*> argv, envp;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = ::open(stdout_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err = ::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (in < 0 || out < 0 || err < 0) return false;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      ::close_range(3, ~0u, 0);  // no inherited sockets of the test process (sim, clients)
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(in);
    ::close(out);
    ::close(err);
    return pid_ > 0;
  }

  bool running() {
    Reap(false);
    return pid_ > 0 && !exit_status_;
  }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string webhook_url() const { return base_url() + "/api/webhooks/telnyx/call-events"; }
  std::string Stderr() const { return ReadFileText(stderr_path_); }
  std::string Stdout() const { return ReadFileText(stdout_path_); }

  void Signal(int sig) {
    if (running()) ::kill(pid_, sig);
  }

  // The exit code (0-255), 128+N when killed by signal N, or -1 if it is still running after
  // `timeout`.
  int WaitExit(Millis timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!Reap(false) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(Millis(5));
    if (!exit_status_) return -1;
    int st = *exit_status_;
    return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
  }

 private:
  // True once the child has been reaped (its status kept in exit_status_).
  bool Reap(bool block) {
    if (exit_status_) return true;
    if (pid_ <= 0) return false;
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, block ? 0 : WNOHANG);
    if (r == pid_) exit_status_ = st;
    return exit_status_.has_value();
  }

  bool WaitReady(Millis timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!running()) return false;
      if (port_ == 0) {
        std::string text = ReadFileText(port_file_);
        // serve writes "<port>\n"; without the newline the write may be incomplete.
        if (!text.empty() && text.back() == '\n') port_ = std::atoi(text.c_str());
      }
      if (port_ > 0) {
        httplib::Client client("127.0.0.1", port_);
        client.set_connection_timeout(1);
        client.set_read_timeout(2);
        auto res = client.Get("/readyz");
        if (res && res->status == 200) return true;
      }
      std::this_thread::sleep_for(Millis(10));
    }
    return false;
  }

  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  int port_ = 0;
  int starts_ = 0;
  std::string port_file_, stdout_path_, stderr_path_;
};

}  // namespace callrec::testing
