/*
 * Guest test helper: asks /dev/cbtrep-ctl for its version (CBT_IOC_VERSION) and checks the
 * ABI against the one this binary was built with; also checks that bad input is refused
 * with the documented errno. Exit 0 when all holds, 1 otherwise (with the reason).
 *   cbtrep-ktest-ctl-version            the checks above, as the caller (root)
 *   cbtrep-ktest-ctl-version --nobody   drops to uid/gid 65534; opening must fail (EACCES)
 * Linked statically so it runs in the busybox initramfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cbtrep/ioctl.h>

static int expect_errno(int fd, unsigned long cmd, void *arg, int want, const char *what)
{
	if (ioctl(fd, cmd, arg) == 0) {
		fprintf(stderr, "ctl_version: %s succeeded, want errno %d\n", what, want);
		return 1;
	}
	if (errno != want) {
		fprintf(stderr, "ctl_version: %s failed with %s, want errno %d\n", what,
			strerror(errno), want);
		return 1;
	}
	return 0;
}

/* The control device is root-only: an unprivileged user must not even open it. */
static int check_nobody_denied(const char *path)
{
	int fd;

	if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
		fprintf(stderr, "ctl_version: cannot drop to nobody: %s\n", strerror(errno));
		return 1;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		fprintf(stderr, "ctl_version: uid 65534 could open %s\n", path);
		close(fd);
		return 1;
	}
	if (errno != EACCES) {
		fprintf(stderr, "ctl_version: open %s as nobody: %s, want EACCES\n", path,
			strerror(errno));
		return 1;
	}
	printf("uid 65534 is refused %s\n", path);
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = CBT_CTL_DEVICE_LINUX;
	struct cbt_ioc_version v = { .hdr = CBT_IOC_HDR_INIT(struct cbt_ioc_version) };
	struct cbt_ioc_version bad = v;
	int bad_count = 0;
	int fd;

	if (argc > 1 && strcmp(argv[1], "--nobody") == 0)
		return check_nobody_denied(path);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "ctl_version: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (ioctl(fd, CBT_IOC_VERSION, &v) != 0) {
		fprintf(stderr, "ctl_version: CBT_IOC_VERSION on %s: %s\n", path, strerror(errno));
		close(fd);
		return 1;
	}
	bad.hdr.version = CBT_IOCTL_VERSION + 1;
	bad_count += expect_errno(fd, CBT_IOC_VERSION, &bad, EINVAL, "VERSION with a bad header");
	bad_count += expect_errno(fd, CBT_IOC_VERSION, NULL, EFAULT, "VERSION with a NULL buffer");
	bad_count += expect_errno(fd, _IO(CBT_IOC_MAGIC, 0x7f), NULL, ENOTTY, "an unknown request");
	close(fd);
	if (bad_count)
		return 1;
	if (memchr(v.module_version, 0, sizeof(v.module_version)) == NULL) {
		fprintf(stderr, "ctl_version: module_version is not NUL-terminated\n");
		return 1;
	}
	printf("cbtrep module %s, ABI %u (expected %u), features 0x%x\n", v.module_version,
	       v.abi_version, CBT_ABI_VERSION, v.features);
	return v.abi_version == CBT_ABI_VERSION ? 0 : 1;
}
