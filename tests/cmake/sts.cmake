# sts.cmake — STS credentials for tasks (mover/s3/sts, mover/s3/control):
#   test_sts   the AssumeRole answer parser against canned answers in
#              tests/data/sts/assume_role/<case>.xml (radosgw 16's as measured, AWS's as
#              documented) and the request's form body (label unit)
sluice_unit_test(test_sts test_sts.c)
target_compile_definitions(test_sts PRIVATE SLUICE_TEST_DATA="${CMAKE_SOURCE_DIR}/tests/data")

# STS task credentials, reference reads and attribution with the real daemon and the
# local radosgw's STS (label integration): boto3 and the AWS CLI as the interpreter.
sluice_integration_test(tasks_sts ${SLUICE_PYTHON} ${CMAKE_SOURCE_DIR}/tests/integration/test_tasks_sts.py
                        $<TARGET_FILE:sluice-mover> $<TARGET_FILE:sluice-review>)
set_tests_properties(tasks_sts PROPERTIES TIMEOUT 600)
