#pragma once
/// @file
/// Probing the machine without starting an Engine: what `ringxfer probe` prints.
#include "ringxfer/features.hpp"
#include "ringxfer/options.hpp"

namespace ringxfer {

/// Fills kernel release, liburing version, io_uring usability (and why not),
/// opcode and setup-flag support, RLIMIT_MEMLOCK, and the backend `auto` would
/// pick under `options` (environment overrides included).
Features probe_features(const EngineOptions& options = {});

}  // namespace ringxfer
