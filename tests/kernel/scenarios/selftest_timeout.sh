# Harness self-test: a guest that never finishes must fail by timeout.
# @kernels: 6.12
# @timeout: 20
# @expect-fail: timeout after 20s
sleep 3600
