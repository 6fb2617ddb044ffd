#pragma once
// Global operator new/delete of the micro benchmark binary are replaced with
// counting versions (alloc_counter.cpp), so a benchmark can report allocations
// per operation: DESIGN invariant 5 says the hot path allocates nothing.
// Only operator new is seen; a direct malloc() is not.
#include <cstdint>

namespace ringxfer::perf {

// Calls of any global operator new so far, on any thread.
std::uint64_t allocation_count() noexcept;

}  // namespace ringxfer::perf
