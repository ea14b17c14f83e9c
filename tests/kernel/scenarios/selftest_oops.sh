# Harness self-test: an oops (NULL dereference in a module's init) must fail the test even
# though the guest goes on and reports PASS.
# @expect-fail: kernel log shows: .*(BUG:|Oops)
load_selftest provoke=oops || echo "insmod died with the oops, as it should"
