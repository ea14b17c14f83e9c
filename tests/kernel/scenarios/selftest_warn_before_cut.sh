# Harness self-test: a kernel WARN() in a boot that ends by a power cut still fails the run
# (power_cut puts the kernel log on the console before asking for the cut), and the boot
# after it never starts.
# @boots: 2
# @timeout: 60
# @kernels: 6.12
# @expect-fail: boot 1 of 2: kernel log shows: .*WARNING:
[ "$CBTREP_BOOT" = 1 ] || fail "boot $CBTREP_BOOT ran after a boot that should have failed"
load_selftest provoke=warn
power_cut
sleep 30
fail "the power was not cut within 30 s of the request"
