# cluster.cmake — several movers on one configuration (docs/scaling.md): two real daemons
# sharing one configuration on the local radosgw: exactly-once promotion, a killed
# mover's shards taken over, a paused mover promoting nothing after it wakes
# (tests/integration/test_movers.py).
sluice_integration_test(movers ${SLUICE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_movers.py
                        $<TARGET_FILE:sluice-mover> $<TARGET_FILE:sluice-review>)
