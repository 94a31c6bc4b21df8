# attest.cmake — attested promotion (mover/attest/): the cmocka tests of the statement,
# DSSE, metadata codec, verdicts and key files, run against the vectors of
# tests/vectors/attest (written by make_vectors.py with Python and the openssl command,
# independently of the C code). Label "unit"; under valgrind too.
sluice_unit_test(test_attest test_attest.c)
target_compile_definitions(test_attest PRIVATE SLUICE_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
