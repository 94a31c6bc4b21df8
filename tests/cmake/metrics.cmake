# metrics.cmake — mover/metrics: the registry and the Prometheus text exposition
# (tests/test_metrics.c, label "unit"), and metrics_promtool, which feeds an exposition
# holding every escaping and value case to Prometheus's own checker
# (`promtool check metrics`, Debian package prometheus).
sluice_unit_test(test_metrics test_metrics.c)

find_program(SLUICE_PROMTOOL promtool REQUIRED)
add_test(NAME metrics_promtool
         COMMAND sh -c "set -e; $<TARGET_FILE:test_metrics> --sample > sample.prom; ${SLUICE_PROMTOOL} check metrics < sample.prom"
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(metrics_promtool PROPERTIES LABELS unit)

# GET /metrics on the API server's TCP mode (api_options.tcp_listen), raw HTTP over
# loopback (tests/test_metrics_endpoint.c).
sluice_unit_test(test_metrics_endpoint test_metrics_endpoint.c)
