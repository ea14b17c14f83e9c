# Harness self-test: a scenario that fails must fail the test.
# @kernels: 6.12
# @expect-fail: guest says: FAIL scenario exited with 1
echo "this scenario fails on purpose"
false
echo "not reached: sh -e stops at the failing command"
