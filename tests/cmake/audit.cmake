# audit.cmake — the audit log's tests: the cmocka unit tests of mover/audit (format,
# hash chain, group commit on a real libuv loop, repair, failures) and the
# `sluice-review audit verify` command run as a program (tests/audit_cli_test.sh builds
# its logs with coreutils' sha256sum, independently of the C code). Label "unit".
sluice_unit_test(test_audit test_audit.c)

add_test(NAME audit_cli
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/audit_cli_test.sh $<TARGET_FILE:sluice-review>)
set_tests_properties(audit_cli PROPERTIES LABELS unit)

# Audit segments (mover/audit/segment.c): keys, the chain scan, signed heads, comparing
# with the local log. Shipping itself is tested on radosgw (tests/integration/test_attest.py).
sluice_unit_test(test_audit_segment test_audit_segment.c)
