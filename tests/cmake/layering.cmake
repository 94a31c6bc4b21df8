# layering.cmake — the daemon's layers point one way: nothing below mover/api/ includes
# from it or from http-parser (tests/layering_test.sh names each file and line that
# does), and a self-test shows the check finds such includes. Label "unit".
add_test(NAME layering COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/layering_test.sh ${CMAKE_SOURCE_DIR})
add_test(NAME layering_self_test COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/layering_test.sh --self-test)
set_tests_properties(layering layering_self_test PROPERTIES LABELS unit)
