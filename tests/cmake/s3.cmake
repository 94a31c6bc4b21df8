# S3 client: credentials loading and the S3 XML parsers / request-body writers.
# test_s3_xml reads canned responses from tests/data/s3/<operation>/<case>.xml.
sluice_unit_test(test_credentials test_credentials.c)
sluice_unit_test(test_s3_xml test_s3_xml.c)
target_compile_definitions(test_s3_xml PRIVATE SLUICE_TEST_DATA="${CMAKE_SOURCE_DIR}/tests/data")
# test_s3_client: every operation's request on the wire and the per-operation counters,
# against a small HTTP peer on the test's own loop (no S3 server needed).
sluice_unit_test(test_s3_client test_s3_client.c http_peer.c)
