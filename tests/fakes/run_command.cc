#include "fakes/run_command.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

extern char** environ;

namespace callrec::testing {

std::string BinaryPath(const std::string& name) { return std::string(CALLREC_BINARY_DIR) + "/" + name; }

CommandResult RunCommand(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env) {
  CommandResult result;
  int out[2], err[2];
  if (::pipe(out) != 0 || ::pipe(err) != 0) return result;
  pid_t pid = ::fork();
  if (pid < 0) return result;
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    // Nothing else of the test process (sockets, the pipes' other ends) reaches the child or
    // what it leaves running (a server daemonized by pg_ctl would hold the pipes open forever).
    ::close_range(3, ~0u, 0);
    for (const auto& kv : extra_env) ::putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[8192];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? result.out : result.err).append(buf, size_t(n));
      }
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

CommandResult RunCallrec(const std::vector<std::string>& args, const std::vector<std::string>& extra_env) {
  std::vector<std::string> argv = {BinaryPath("callrec")};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, extra_env);
}

}  // namespace callrec::testing
