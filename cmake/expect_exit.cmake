# cmake -DEXE=... -DARGS=a;b -DEXPECT_CODE=N [-DEXPECT_STDERR=text] -P expect_exit.cmake
# Runs EXE with ARGS and fails unless it exits with EXPECT_CODE and (if given)
# its stderr contains EXPECT_STDERR.
execute_process(COMMAND ${EXE} ${ARGS}
  RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code STREQUAL "${EXPECT_CODE}")
  message(FATAL_ERROR "expected exit ${EXPECT_CODE}, got '${code}'\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(DEFINED EXPECT_STDERR)
  string(FIND "${err}" "${EXPECT_STDERR}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "stderr does not mention '${EXPECT_STDERR}':\n${err}")
  endif()
endif()
message(STATUS "exit ${code} as expected")
