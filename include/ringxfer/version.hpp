#pragma once
/// @file
/// The library version (also the CMake package and ringxfer.pc version).
namespace ringxfer {
/// "major.minor.patch"; 0.x: a minor version may change the API.
inline constexpr const char* version_string = "0.1.0";
}  // namespace ringxfer
