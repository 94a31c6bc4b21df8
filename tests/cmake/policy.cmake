# policy.cmake — the bucket policies of mover/policy: the cmocka unit tests of
# policy_build and the `policy` command (tests/test_policy.c, label "unit"), and the
# integration test that applies them to the real local radosgw and proves, with each
# identity's own keys, every denial (403) and every permission the pipeline needs
# (tests/integration/test_policies.py, label "integration": it needs
# `eval "$(scripts/s3-server.sh env)"`, and the server started with its policies, which
# `scripts/s3-server.sh start` applies with this build's sluice-mover).

sluice_unit_test(test_policy test_policy.c)

sluice_integration_test(policies ${SLUICE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/integration/test_policies.py
                        $<TARGET_FILE:sluice-mover>)
set_tests_properties(policies PROPERTIES TIMEOUT 180)

# How a live bucket policy differs from the configured one (mover/policy/compare: the
# parser behind `sluice-mover policy --check`), label "unit".
sluice_unit_test(test_policy_compare test_policy_compare.c)
