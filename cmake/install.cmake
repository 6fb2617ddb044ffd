# Install rules: headers, the library, an exported CMake package
# (find_package(ringxfer) -> ringxfer::ringxfer) and ringxfer.pc.
# Included last from the top-level CMakeLists.txt, once all targets exist.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# RINGXFER_INSTALL is declared in the top-level CMakeLists.txt.
if(NOT RINGXFER_INSTALL)
  return()
endif()

set(RINGXFER_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/ringxfer"
    CACHE STRING "Where ringxferConfig.cmake is installed, relative to the prefix")

install(TARGETS ringxfer
  EXPORT ringxferTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")

# The CLI (target ringxfer_cli, executable `ringxfer`), when it is built.
if(TARGET ringxfer_cli)
  install(TARGETS ringxfer_cli RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
endif()

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/ringxfer"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
  FILES_MATCHING PATTERN "*.hpp")

# liburing is linked privately as $<BUILD_INTERFACE:PkgConfig::LIBURING>, so the
# export carries no trace of it; ringxferConfig.cmake adds it back for the static
# library (consumers need -luring at link time).
install(EXPORT ringxferTargets
  NAMESPACE ringxfer::
  FILE ringxferTargets.cmake
  DESTINATION "${RINGXFER_INSTALL_CMAKEDIR}")

configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/ringxferConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/ringxferConfig.cmake"
  INSTALL_DESTINATION "${RINGXFER_INSTALL_CMAKEDIR}")
# 0.x: a minor version may break the API, so only the same minor is compatible.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/ringxferConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMinorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/ringxferConfig.cmake"
  "${PROJECT_BINARY_DIR}/ringxferConfigVersion.cmake"
  DESTINATION "${RINGXFER_INSTALL_CMAKEDIR}")

# ringxfer.pc is relocatable: paths are relative to ${pcfiledir}, so
# `cmake --install --prefix X` (chosen after configure) still yields a correct file.
set(RINGXFER_PKGCONFIG_DIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(RINGXFER_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(RINGXFER_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(RINGXFER_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH _ringxfer_pc_up "/${RINGXFER_PKGCONFIG_DIR}" "/")
  string(REGEX REPLACE "/$" "" _ringxfer_pc_up "${_ringxfer_pc_up}")
  set(RINGXFER_PC_PREFIX "\${pcfiledir}/${_ringxfer_pc_up}")
  set(RINGXFER_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(RINGXFER_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# A static libringxfer needs liburing and pthreads on every link line, so they
# go into Requires/Libs (plain `pkg-config --libs ringxfer` must link); a
# shared one keeps them private.
get_target_property(_ringxfer_type ringxfer TYPE)
if(_ringxfer_type STREQUAL "STATIC_LIBRARY")
  set(RINGXFER_PC_REQUIRES "Requires: liburing >= 2.3")
  set(RINGXFER_PC_LIBS "-L\${libdir} -lringxfer -pthread")
  set(RINGXFER_PC_LIBS_PRIVATE "")
else()
  set(RINGXFER_PC_REQUIRES "Requires.private: liburing >= 2.3")
  set(RINGXFER_PC_LIBS "-L\${libdir} -lringxfer")
  set(RINGXFER_PC_LIBS_PRIVATE "Libs.private: -pthread")
endif()
configure_file("${CMAKE_CURRENT_LIST_DIR}/ringxfer.pc.in" "${PROJECT_BINARY_DIR}/ringxfer.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/ringxfer.pc" DESTINATION "${RINGXFER_PKGCONFIG_DIR}")
