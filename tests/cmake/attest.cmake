# attest.cmake — attested promotion (mover/attest/): the cmocka tests of the statement,
# DSSE, metadata codec, verdicts and key files, run against the vectors of
# tests/vectors/attest (written by make_vectors.py with Python and the openssl command,
# independently of the C code). Label "unit"; under valgrind too.
sluice_unit_test(test_attest test_attest.c)
target_compile_definitions(test_attest PRIVATE SLUICE_SOURCE_DIR="${CMAKE_SOURCE_DIR}")

# `sluice-review verify` as the consumer against the real server, and the openssl recipe
# of docs/attestation.md run as written (tests/integration/test_attest.py).
sluice_integration_test(attest ${SLUICE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/integration/test_attest.py
                        $<TARGET_FILE:sluice-mover> $<TARGET_FILE:sluice-review>)
set_tests_properties(attest PROPERTIES TIMEOUT 600)

# attest-cost: the CPU cost of signing and verifying (docs/benchmarks.md, "Attested
# promotion"); built, not run by the suite.
add_executable(attest_cost tools/attest_cost.c)
target_link_libraries(attest_cost PRIVATE sluice_core)
set_target_properties(attest_cost PROPERTIES OUTPUT_NAME attest-cost)
