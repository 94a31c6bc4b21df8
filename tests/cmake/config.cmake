# config.cmake — the configuration loader's tests (tests/test_config.c): the examples
# under config/examples load, defaults and path resolution, a table of broken
# configurations with their exact messages, the duration/size parsers, check-config's
# output. SLUICE_SOURCE_DIR lets the test find config/examples and tests/data/config.
sluice_unit_test(test_config test_config.c)
target_compile_definitions(test_config PRIVATE SLUICE_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
