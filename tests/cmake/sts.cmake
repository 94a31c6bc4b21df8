# sts.cmake — STS credentials for tasks (mover/s3/sts, mover/s3/control):
#   test_sts   the AssumeRole answer parser against canned answers in
#              tests/data/sts/assume_role/<case>.xml (radosgw 16's as measured, AWS's as
#              documented) and the request's form body (label unit)
sluice_unit_test(test_sts test_sts.c)
target_compile_definitions(test_sts PRIVATE SLUICE_TEST_DATA="${CMAKE_SOURCE_DIR}/tests/data")
