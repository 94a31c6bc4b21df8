# tasks.cmake — interpreter tasks and their upload grants:
#   test_task             cmocka unit tests of mover/state/task (states and transitions
#                         table, ids, names and patterns, the task manifest); it also checks
#                         that docs/tasks.md shows the diagram the table draws (label unit)
#   task_registry         the task registry (mover/tasks) in-process against the real
#                         local radosgw: open, grants used with curl, admit verdicts,
#                         limits, close, expiry (label integration)
#   tasks_grants          the grants a task hands out, used with curl and Python's urllib
#                         against radosgw: what they allow and what S3 refuses (label
#                         integration)
# The integration tests need `eval "$(scripts/s3-server.sh env)"` first.
sluice_unit_test(test_task test_task.c)
target_compile_definitions(test_task PRIVATE SLUICE_SOURCE_DIR="${CMAKE_SOURCE_DIR}")

# The registry against the real server (in-process), with the API endpoints end to end
# through a real API server, the CLI's API client, and the sluice-review binary (whose
# printed curl lines the test runs).
add_executable(task-registry-test integration/test_task_registry.c ${CMAKE_SOURCE_DIR}/review/api_client.c)
target_link_libraries(task-registry-test PRIVATE sluice_core PkgConfig::CMOCKA)
target_include_directories(task-registry-test PRIVATE ${CMAKE_SOURCE_DIR}/review)
target_compile_definitions(task-registry-test PRIVATE SLUICE_REVIEW_BIN="$<TARGET_FILE:sluice-review>")
add_dependencies(task-registry-test sluice-review)
find_package(Threads REQUIRED)
target_link_libraries(task-registry-test PRIVATE Threads::Threads)
sluice_integration_test(task_registry $<TARGET_FILE:task-registry-test>)
set_tests_properties(task_registry PROPERTIES TIMEOUT 180)

# The grants used the way an interpreter uses them (curl, urllib), opened with
# sluice-review through the task API that task-registry-test serves.
sluice_integration_test(tasks_grants ${SLUICE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_tasks.py
                        $<TARGET_FILE:task-registry-test> $<TARGET_FILE:sluice-review>)
set_tests_properties(tasks_grants PROPERTIES TIMEOUT 180)

# The pure parts of the grants (mover/tasks/grants*.c): the STS session policy, its size
# limit, DurationSeconds and the reference allowlist (label unit).
sluice_unit_test(test_task_grants test_task_grants.c)
