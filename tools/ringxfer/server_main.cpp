#include "server_main.hpp"

#include <unistd.h>

#include <iostream>

#include "command.hpp"

namespace ringxfer::cli {

std::unique_ptr<Workers> make_server_engines(const RunConfig& config, const Address& listen) {
  WorkersOptions options = engine_set_options(config, config.common.threads);
  options.listen = listen;
  try {
    return std::make_unique<Workers>(options);
  } catch (const std::system_error& e) {
    // "ringxfer::Workers: listen 127.0.0.1:80: Permission denied": name the step.
    std::string text = e.what();
    constexpr std::string_view prefix = "ringxfer::Workers: ";
    if (text.rfind(prefix, 0) == 0) text.erase(0, prefix.size());
    std::cerr << "ringxfer " << config.command << ": " << text << '\n';
    return nullptr;
  }
}

int run_server(const ServerRun& run, const CommonOptions& common, const ServerOptions& server,
               std::vector<std::unique_ptr<Worker>>& workers, RunResult& result) {
  block_signals();  // before "listening on": an early signal drains instead of killing
  raise_fd_limit();
  std::string what;
  RunConfig config;
  config.command = run.command;
  config.common = common;
  config.engine = run.engine;
  config.drain_timeout = server.drain_timeout;
  config.vocabulary = run.vocabulary;
  config.on_progress = run.on_progress;
  Address metrics_bound;
  if (server.metrics) {
    std::vector<int> metrics_fds;
    if (auto ec = open_listeners(*server.metrics, 1, metrics_fds, metrics_bound, what)) {
      std::cerr << "ringxfer " << run.command << ": metrics: " << what << ": " << ec.message() << '\n';
      return exit_failure;
    }
    config.metrics_fd = metrics_fds.front();
  }
  std::unique_ptr<Workers> set = make_server_engines(config, server.listen);
  if (!set) {
    if (config.metrics_fd >= 0) ::close(config.metrics_fd);
    return exit_failure;
  }
  const Address bound = set->listen_address();
  if (server.metrics) {
    std::cerr << "ringxfer " << run.command << ": metrics at http://" << metrics_bound.to_string() << "/metrics\n";
  }
  std::cerr << "ringxfer " << run.command << ": listening on " << bound.to_string() << run.listening_note << " ("
            << common.threads << " thread" << (common.threads == 1 ? "" : "s") << ")\n";
  std::vector<Worker*> pointers;
  for (std::uint32_t i = 0; i < set->size(); ++i) {
    workers.push_back(run.make_worker());
    pointers.push_back(workers.back().get());
  }
  result = run_workers(config, *set, pointers);
  if (common.stats) print_stats(result.final);
  return result.exit_code;
}

}  // namespace ringxfer::cli
