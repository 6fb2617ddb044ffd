// `ringxfer probe`: what this machine offers the engine, without starting one.
//
// The environment is read here rather than by probe_features(), so that the
// flags can take precedence: --backend overrides RINGXFER_BACKEND, and
// --disable adds to RINGXFER_DISABLE (as EngineOptions::disabled does).
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "command.hpp"
#include "ringxfer/features.hpp"
#include "ringxfer/options.hpp"
#include "ringxfer/probe.hpp"
#include "ringxfer/version.hpp"
#include "text.hpp"

namespace ringxfer::cli {
namespace {

constexpr std::string_view probe_usage =
    "usage: ringxfer probe [--json] [--backend auto|io_uring|epoll] [--disable LIST]\n"
    "\n"
    "Shows the kernel's io_uring support (setup flags, opcodes), RLIMIT_MEMLOCK,\n"
    "whether the buffer pool would be registered, and which backend the engine\n"
    "would pick, and why.\n"
    "\n"
    "options:\n"
    "  --json             machine-readable output\n"
    "  --backend NAME     auto, io_uring or epoll (overrides RINGXFER_BACKEND)\n"
    "  --disable LIST     comma list of features to treat as off, added to\n"
    "                     RINGXFER_DISABLE: send_zc, multishot_accept, multishot_recv,\n"
    "                     buf_ring, fixed_files, fixed_buffers, defer_taskrun, splice,\n"
    "                     msg_ring, accept_direct, recv_bundle, buf_ring_inc, all\n"
    "  -h, --help         this text\n";

struct ProbeArgs {
  bool json = false;
  BackendKind backend = BackendKind::automatic;
  std::string backend_source = "default";  // where the backend choice came from
  FeatureSet disabled = EngineOptions{}.disabled;  // what an Engine starts with (recv_bundle is opt-in)
  std::vector<std::string> disabled_sources;
};

std::vector<std::string> feature_names(FeatureSet set) {
  std::vector<std::string> names;
  for (int i = 0; i < feature_count; ++i) {
    auto f = static_cast<Feature>(i);
    if (set.has(f)) names.emplace_back(to_string(f));
  }
  return names;
}

std::string join(const std::vector<std::string>& words, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i != 0) out += separator;
    out += words[i];
  }
  return out;
}

void add_features(FeatureSet& into, FeatureSet more) {
  for (int i = 0; i < feature_count; ++i) {
    auto f = static_cast<Feature>(i);
    if (more.has(f)) into.add(f);
  }
}

// Parses a feature list from `source` (a flag or variable name) into args.
bool take_disable_list(std::string_view text, std::string_view source, ProbeArgs& args) {
  FeatureSet set;
  std::string bad;
  if (parse_features(text, set, &bad)) {
    std::vector<std::string> known = feature_names(FeatureSet::all());
    known.emplace_back("all");
    usage_error(std::string(source) + ": unknown feature '" + bad + "' (known: " + join(known, ", ") + ")", {});
    return false;
  }
  add_features(args.disabled, set);
  if (!set.empty()) args.disabled_sources.emplace_back(source);
  return true;
}

bool take_backend(std::string_view text, std::string_view source, ProbeArgs& args) {
  BackendKind kind{};
  if (parse_backend(text, kind)) {
    usage_error(std::string(source) + ": unknown backend '" + std::string(text) +
                    "' (expected auto, io_uring or epoll)",
                {});
    return false;
  }
  args.backend = kind;
  args.backend_source = source;
  return true;
}

// Returns -1 to go on, or an exit code.
int parse_args(std::span<const std::string_view> argv, ProbeArgs& args) {
  // Environment first, flags second: a flag overrides (backend) or adds (disable).
  if (const char* env = std::getenv("RINGXFER_BACKEND"); env != nullptr && *env != '\0') {
    if (!take_backend(env, "RINGXFER_BACKEND", args)) return exit_usage;
  }
  if (const char* env = std::getenv("RINGXFER_DISABLE"); env != nullptr && *env != '\0') {
    if (!take_disable_list(env, "RINGXFER_DISABLE", args)) return exit_usage;
  }
  for (std::size_t i = 0; i < argv.size(); ++i) {
    std::string_view arg = argv[i];
    // Both "--flag value" and "--flag=value".
    auto value_of = [&](std::string_view flag, std::string_view& value) -> int {
      if (arg == flag) {
        if (i + 1 >= argv.size()) {
          usage_error("option '" + std::string(flag) + "' needs a value", probe_usage);
          return exit_usage;
        }
        value = argv[++i];
        return 1;
      }
      if (arg.size() > flag.size() && arg.starts_with(flag) && arg[flag.size()] == '=') {
        value = arg.substr(flag.size() + 1);
        return 1;
      }
      return 0;
    };
    std::string_view value;
    if (arg == "-h" || arg == "--help") {
      std::cout << probe_usage;
      return exit_ok;
    }
    if (arg == "--json") {
      args.json = true;
      continue;
    }
    if (int r = value_of("--backend", value); r != 0) {
      if (r != 1 || !take_backend(value, "--backend", args)) return exit_usage;
      continue;
    }
    if (int r = value_of("--disable", value); r != 0) {
      if (r != 1 || !take_disable_list(value, "--disable", args)) return exit_usage;
      continue;
    }
    if (arg.starts_with('-')) {
      usage_error("probe: unknown option '" + std::string(arg) + "'", probe_usage);
    } else {
      usage_error("probe: unexpected argument '" + std::string(arg) + "'", probe_usage);
    }
    return exit_usage;
  }
  return -1;
}

std::string yes_no(bool b) { return b ? "yes" : "no"; }
std::string or_unknown(const std::string& s) { return s.empty() ? "unknown" : s; }

void print_text(const ProbeArgs& args, const Features& f) {
  Table t;
  t.row("ringxfer", version_string);
  t.row("kernel release", or_unknown(f.kernel_release));
  t.row("liburing", or_unknown(f.liburing_version));
  t.row("io_uring usable",
        f.io_uring_usable ? "yes" : "no: " + (f.io_uring_error.empty() ? std::string("unknown reason") : f.io_uring_error));
  t.row("setup mode", f.setup_mode.empty() ? "-" : f.setup_mode);
  t.row("setup flags", f.setup_flags.empty() ? "none probed" : "");
  for (const OpcodeSupport& s : f.setup_flags) t.row(s.name, yes_no(s.supported), 1);
  t.row("opcodes", f.opcodes.empty() ? "none probed" : "");
  for (const OpcodeSupport& s : f.opcodes) t.row(s.name, yes_no(s.supported), 1);
  t.row("registered ring fd", yes_no(f.registered_ring_fd));
  t.row("sqpoll", yes_no(f.sqpoll));
  t.row("RLIMIT_MEMLOCK", human_bytes(f.memlock_limit_bytes));
  std::string buffers = yes_no(f.buffers_registered);
  if (!f.buffers_note.empty()) buffers += (f.buffers_registered ? " (" : ": ") + f.buffers_note + (f.buffers_registered ? ")" : "");
  t.row("registered buffers", buffers);
  std::vector<std::string> disabled = feature_names(f.disabled);
  std::string disabled_text = disabled.empty() ? "none" : join(disabled, ",");
  if (!args.disabled_sources.empty()) disabled_text += " (from " + join(args.disabled_sources, ", ") + ")";
  t.row("disabled features", disabled_text);
  std::vector<std::string> active = feature_names(f.active);
  t.row("active features", active.empty() ? "none" : join(active, ","));
  t.row("backend", std::string(to_string(f.backend)));
  t.row("requested", std::string(to_string(args.backend)) + " (" + args.backend_source + ")", 1);
  t.row("why", f.why.empty() ? "-" : f.why, 1);
  t.print(std::cout);
}

void print_json(const ProbeArgs& args, const Features& f) {
  JsonWriter j;
  j.key_string("ringxfer_version", version_string);
  j.key_string("kernel_release", f.kernel_release);
  j.key_string("liburing_version", f.liburing_version);
  j.key_bool("io_uring_usable", f.io_uring_usable);
  if (f.io_uring_usable) {
    j.key_null("io_uring_error");
  } else {
    j.key_string("io_uring_error", f.io_uring_error);
  }
  j.key_string("setup_mode", f.setup_mode);
  j.begin_object("setup_flags");
  for (const OpcodeSupport& s : f.setup_flags) j.key_bool(s.name, s.supported);
  j.end_object();
  j.begin_object("opcodes");
  for (const OpcodeSupport& s : f.opcodes) j.key_bool(s.name, s.supported);
  j.end_object();
  j.key_bool("registered_ring_fd", f.registered_ring_fd);
  j.key_bool("sqpoll", f.sqpoll);
  if (f.memlock_limit_bytes == UINT64_MAX) {
    j.key_null("memlock_limit_bytes");  // null: unlimited
  } else {
    j.key_uint("memlock_limit_bytes", f.memlock_limit_bytes);
  }
  j.key_string("memlock_limit", human_bytes(f.memlock_limit_bytes));
  j.key_bool("buffers_registered", f.buffers_registered);
  j.key_string("buffers_note", f.buffers_note);
  j.key_string_array("disabled", feature_names(f.disabled));
  j.key_string_array("disabled_from", args.disabled_sources);
  j.key_string_array("active", feature_names(f.active));
  j.key_string("backend", to_string(f.backend));
  j.key_string("backend_requested", to_string(args.backend));
  j.key_string("backend_requested_from", args.backend_source);
  j.key_string("backend_why", f.why);
  std::cout << j.finish();
}

}  // namespace

int probe_command(std::span<const std::string_view> argv) {
  ProbeArgs args;
  if (int code = parse_args(argv, args); code >= 0) return code;

  EngineOptions options;
  options.read_environment = false;  // applied above, so that flags win
  options.backend = args.backend;
  options.disabled = args.disabled;
  Features features;
  try {
    features = probe_features(options);
  } catch (const std::exception& e) {  // probing is setup, not the I/O path; still, say what broke
    std::cerr << "ringxfer: probe failed: " << e.what() << '\n';
    return exit_failure;
  }

  if (args.json) {
    print_json(args, features);
  } else {
    print_text(args, features);
  }
  std::cout.flush();
  return std::cout ? exit_ok : exit_failure;
}

}  // namespace ringxfer::cli
