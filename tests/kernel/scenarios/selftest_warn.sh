# Harness self-test: a kernel WARN() during an otherwise passing scenario must fail the test
# (the console hides warnings under "quiet"; the dmesg dump at the end still shows them).
# @expect-fail: kernel log shows: .*WARNING:
load_selftest provoke=warn
echo "warning provoked; the scenario itself passes"
