// Must NOT compile: a handler capturing more than handler_capacity_bytes (64)
// is a compile error (static_assert), never a silent heap allocation. The
// ctest unit.handler_too_big builds this and expects the static_assert text.
#include <array>

#include "ringxfer/engine.hpp"

int main() {
  std::array<char, 65> big{};
  ringxfer::Engine* e = nullptr;
  e->timeout(std::chrono::milliseconds(1), [big](std::error_code) { (void)big; });
  return 0;
}
