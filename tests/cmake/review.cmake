# review.cmake — the review rules and the review hook:
#   test_review   cmocka tests of mover/state/review (the rules of a decision, typed codes)
#   test_hook     the hook runner (mover/pipeline/hook) with real processes: the strict
#                 answer bound to its artifact, children ended with the answer, and the
#                 two example hooks of docs/hooks.md (config/examples/hooks/) as they are
# Label "unit"; under valgrind too (normal build).
sluice_unit_test(test_review test_review.c)
sluice_unit_test(test_hook test_hook.c)
target_compile_definitions(test_hook PRIVATE SLUICE_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
set_tests_properties(test_hook PROPERTIES TIMEOUT 120)
if(SLUICE_VALGRIND)
  set_tests_properties(test_hook_valgrind PROPERTIES TIMEOUT 300)
endif()
