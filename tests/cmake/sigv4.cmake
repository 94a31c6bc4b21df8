# sigv4.cmake — the SigV4 signer's tests: the cmocka unit tests, the public test-vector
# runner (build/tests/sigv4-vectors over tests/vectors/sigv4), the sluice-presign tool
# and its integration test against the local S3 server, and (with SLUICE_FUZZ) the
# libFuzzer target over canonicalization.

sluice_unit_test(test_sigv4 test_sigv4.c)

add_executable(sigv4_vectors sigv4_vectors.c)
target_link_libraries(sigv4_vectors PRIVATE sluice_core)
set_target_properties(sigv4_vectors PROPERTIES OUTPUT_NAME sigv4-vectors)
add_test(NAME sigv4_vectors COMMAND sigv4_vectors ${CMAKE_SOURCE_DIR}/tests/vectors/sigv4)
set_tests_properties(sigv4_vectors PROPERTIES LABELS unit)

add_executable(sluice_presign tools/presign.c)
target_link_libraries(sluice_presign PRIVATE sluice_core)
set_target_properties(sluice_presign PROPERTIES OUTPUT_NAME sluice-presign)

sluice_integration_test(sigv4_presign ${CMAKE_SOURCE_DIR}/tests/integration/test_presign.sh
                        $<TARGET_FILE:sluice_presign>)

if(SLUICE_FUZZ)
  add_subdirectory(${CMAKE_CURRENT_SOURCE_DIR}/fuzz ${CMAKE_CURRENT_BINARY_DIR}/fuzz)
endif()
