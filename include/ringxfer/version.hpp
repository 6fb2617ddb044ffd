#pragma once
namespace ringxfer {
inline constexpr const char* version_string = "0.1.0";
}
