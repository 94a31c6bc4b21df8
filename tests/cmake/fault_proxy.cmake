# fault_proxy.cmake — the request-aware fault proxy's own test: tests/integration/
# test_s3_fault_proxy.py drives tests/integration/s3_fault_proxy.py (through its helper
# module faults.py) in front of the local radosgw with boto3 and curl as clients, and
# checks each action from both sides (what the client saw, what the server holds).
# Label "integration": it needs `eval "$(scripts/s3-server.sh env)"`.

sluice_integration_test(fault_proxy ${SLUICE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_s3_fault_proxy.py)
set_tests_properties(fault_proxy PROPERTIES TIMEOUT 300)
