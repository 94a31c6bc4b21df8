# fault.cmake — the S3 client's fault test: build/tests/s3-fault-test drives the client
# against the local radosgw through tests/integration/fault_proxy.py (a TCP proxy that
# resets, delays, answers 503 SlowDown or cuts responses on cue; the test starts and
# stops it). Label "integration": it needs `eval "$(scripts/s3-server.sh env)"`. In the
# normal (non-sanitizer) build it runs a second time under valgrind, where any leak or
# invalid access fails it.

add_executable(s3-fault-test integration/s3_fault_test.c)
target_link_libraries(s3-fault-test PRIVATE sluice_core PkgConfig::CMOCKA)
target_compile_definitions(s3-fault-test PRIVATE
  SLUICE_FAULT_PROXY="${CMAKE_CURRENT_SOURCE_DIR}/integration/fault_proxy.py"
  SLUICE_FAULT_PYTHON="${SLUICE_PYTHON}")

sluice_integration_test(s3_fault $<TARGET_FILE:s3-fault-test>)
set_tests_properties(s3_fault PROPERTIES TIMEOUT 120)

if(NOT SLUICE_SANITIZE)
  find_program(SLUICE_VALGRIND valgrind)
  if(SLUICE_VALGRIND)
    sluice_integration_test(s3_fault_valgrind
      ${SLUICE_VALGRIND} --quiet --leak-check=full --show-leak-kinds=definite,indirect
      --errors-for-leak-kinds=definite,indirect --error-exitcode=99
      $<TARGET_FILE:s3-fault-test>)
    set_tests_properties(s3_fault_valgrind PROPERTIES TIMEOUT 300)
  endif()
endif()
