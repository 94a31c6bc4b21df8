# api.cmake — the daemon's socket API (mover/api/) and the CLI's side of it
# (review/api_client.c, review/health_cmd.c): tests/test_api.c runs the server on a real
# libuv loop in a thread, on a socket in a temporary folder, and talks raw HTTP to it.
# Label "unit"; under valgrind too (normal build). SLUICE_SOURCE_DIR lets it load
# config/examples for the socket-path lookup.
sluice_unit_test(test_api test_api.c ${CMAKE_SOURCE_DIR}/review/api_client.c
                 ${CMAKE_SOURCE_DIR}/review/health_cmd.c)
target_include_directories(test_api PRIVATE ${CMAKE_SOURCE_DIR}/review)
target_compile_definitions(test_api PRIVATE SLUICE_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
find_package(Threads REQUIRED)
target_link_libraries(test_api PRIVATE Threads::Threads)
set_tests_properties(test_api PROPERTIES TIMEOUT 120)
if(SLUICE_VALGRIND)
  set_tests_properties(test_api_valgrind PROPERTIES TIMEOUT 600)
endif()
