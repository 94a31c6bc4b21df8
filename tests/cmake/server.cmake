# server.cmake — the local S3 server (scripts/s3-server.sh): every identity
# authenticates, the buckets exist and belong to mover, bad keys get 403.
# Label "integration": it needs `eval "$(scripts/s3-server.sh env)"` first.
sluice_integration_test(server_identities ${SLUICE_PYTHON}
                        ${CMAKE_SOURCE_DIR}/tests/integration/test_server.py)
set_tests_properties(server_identities PROPERTIES TIMEOUT 60)
