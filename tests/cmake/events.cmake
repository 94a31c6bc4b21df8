# events.cmake — S3 event notifications: the cmocka tests of the event document and SNS
# envelope parsers, SNS signatures, the listener's secret and the shard hash
# (tests/test_events.c, with real payloads from tests/data/events/); the integration test
# with radosgw pushing events to the daemon (tests/integration/test_events.py). Several
# movers: cluster.cmake.
sluice_unit_test(test_events test_events.c)
target_compile_definitions(test_events PRIVATE SLUICE_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
sluice_integration_test(events ${SLUICE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/integration/test_events.py
                        $<TARGET_FILE:sluice-mover> $<TARGET_FILE:sluice-review>)
set_tests_properties(events PROPERTIES TIMEOUT 300)
