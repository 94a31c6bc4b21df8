# cluster.cmake — several movers on one configuration (docs/scaling.md):
#   lease    the lease set (mover/lease/) against the local radosgw, two and three sets
#            in one process on loops turned by hand, so one can be frozen while its clock
#            runs on; no lease is ever held by two at once (tests/integration/lease_test.c)
#   movers   two real daemons sharing one configuration: exactly-once promotion, a killed
#            mover's shards taken over, a paused mover promoting nothing after it wakes
#            (tests/integration/test_movers.py)
add_executable(lease-test integration/lease_test.c)
target_link_libraries(lease-test PRIVATE sluice_core PkgConfig::CMOCKA)
sluice_integration_test(lease $<TARGET_FILE:lease-test>)
sluice_integration_test(movers ${SLUICE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_movers.py
                        $<TARGET_FILE:sluice-mover> $<TARGET_FILE:sluice-review>)
