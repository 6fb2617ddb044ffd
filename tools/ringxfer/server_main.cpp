#include "server_main.hpp"

#include <unistd.h>

#include <iostream>

#include "command.hpp"

namespace ringxfer::cli {

int run_server(const ServerRun& run, const CommonOptions& common, const ServerOptions& server,
               std::vector<std::unique_ptr<Worker>>& workers, RunResult& result) {
  block_signals();  // before "listening on": an early signal drains instead of killing
  raise_fd_limit();
  std::vector<int> fds;
  Address bound;
  std::string what;
  if (auto ec = open_listeners(server.listen, common.threads, fds, bound, what)) {
    std::cerr << "ringxfer " << run.command << ": " << what << ": " << ec.message() << '\n';
    return exit_failure;
  }
  RunConfig config;
  config.command = run.command;
  config.common = common;
  config.drain_timeout = server.drain_timeout;
  config.vocabulary = run.vocabulary;
  config.on_progress = run.on_progress;
  if (server.metrics) {
    std::vector<int> metrics_fds;
    Address metrics_bound;
    if (auto ec = open_listeners(*server.metrics, 1, metrics_fds, metrics_bound, what)) {
      std::cerr << "ringxfer " << run.command << ": metrics: " << what << ": " << ec.message() << '\n';
      for (int fd : fds) ::close(fd);
      return exit_failure;
    }
    config.metrics_fd = metrics_fds.front();
    std::cerr << "ringxfer " << run.command << ": metrics at http://" << metrics_bound.to_string() << "/metrics\n";
  }
  std::cerr << "ringxfer " << run.command << ": listening on " << bound.to_string() << run.listening_note << " ("
            << common.threads << " thread" << (common.threads == 1 ? "" : "s") << ")\n";
  std::vector<Worker*> pointers;
  for (int fd : fds) {
    workers.push_back(run.make_worker(fd));
    pointers.push_back(workers.back().get());
  }
  result = run_workers(config, pointers);
  if (common.stats) print_stats(result.final);
  return result.exit_code;
}

}  // namespace ringxfer::cli
