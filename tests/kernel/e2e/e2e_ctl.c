// SPDX-License-Identifier: Apache-2.0
/*
 * cbtrep-e2e-ctl: the few tracker and filesystem calls the end-to-end scenarios make in
 * the busybox guest, straight on the shared ABI (include/cbtrep/ioctl.h), so the scenarios
 * depend only on the module, not on the operator CLI's spelling.
 *
 *   cbtrep-e2e-ctl attach NAME DEVICE META [CAP_BYTES]   prints state=/reason=/granularity=
 *   cbtrep-e2e-ctl detach NAME
 *   cbtrep-e2e-ctl status NAME                           key=value lines
 *   cbtrep-e2e-ctl tag NAME TAGNAME [app]                prints tag_id= and seq=
 *   cbtrep-e2e-ctl freeze MOUNTPOINT | thaw MOUNTPOINT   FIFREEZE / FITHAW (busybox has no
 *                                                        fsfreeze)
 * Exit codes: 0 ok, 1 the call failed (errno on stderr), 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/fs.h>

#include <cbtrep/ioctl.h>

static int ctl_fd(void)
{
	int fd = open(CBT_CTL_DEVICE_LINUX, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "e2e-ctl: open %s: %s\n", CBT_CTL_DEVICE_LINUX, strerror(errno));
		exit(1);
	}
	return fd;
}

static void call(unsigned long req, void *arg, const char *what)
{
	int fd = ctl_fd();

	if (ioctl(fd, req, arg) != 0) {
		fprintf(stderr, "e2e-ctl: %s: %s\n", what, strerror(errno));
		exit(1);
	}
	close(fd);
}

static void copy_name(char *dst, size_t len, const char *src, const char *what)
{
	if (strlen(src) >= len) {
		fprintf(stderr, "e2e-ctl: %s '%s' is too long\n", what, src);
		exit(2);
	}
	strncpy(dst, src, len - 1);
}

static int fs_ioctl(const char *mnt, unsigned long req, const char *what)
{
	int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || ioctl(fd, req, 0) != 0) {
		fprintf(stderr, "e2e-ctl: %s %s: %s\n", what, mnt, strerror(errno));
		return 1;
	}
	close(fd);
	return 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: cbtrep-e2e-ctl attach NAME DEVICE META [CAP_BYTES] | detach NAME |\n"
		"       status NAME | tag NAME TAGNAME [app] | freeze MNT | thaw MNT\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (!strcmp(cmd, "attach") && (argc == 5 || argc == 6)) {
		struct cbt_ioc_attach a = { .hdr = CBT_IOC_HDR_INIT(struct cbt_ioc_attach) };

		copy_name(a.name, sizeof(a.name), argv[2], "name");
		copy_name(a.dev_path, sizeof(a.dev_path), argv[3], "device");
		copy_name(a.meta_path, sizeof(a.meta_path), argv[4], "metadata path");
		a.mem_cap_bytes = argc == 6 ? strtoull(argv[5], NULL, 0) : 0;
		call(CBT_IOC_ATTACH, &a, "ATTACH");
		printf("state=%u reason=%u (%s) granularity=%u device_bytes=%" PRIu64 "\n", a.state,
		       a.reason, cbt_reason_str(a.reason), a.granularity, a.device_bytes);
		return 0;
	}
	if (!strcmp(cmd, "detach") && argc == 3) {
		struct cbt_ioc_detach d = { .hdr = CBT_IOC_HDR_INIT(struct cbt_ioc_detach) };

		copy_name(d.name, sizeof(d.name), argv[2], "name");
		call(CBT_IOC_DETACH, &d, "DETACH");
		return 0;
	}
	if (!strcmp(cmd, "status") && argc == 3) {
		struct cbt_ioc_status s = { .hdr = CBT_IOC_HDR_INIT(struct cbt_ioc_status) };

		copy_name(s.name, sizeof(s.name), argv[2], "name");
		call(CBT_IOC_STATUS, &s, "STATUS");
		printf("mode=%u\nmode_reason=%u\nstate=%u\nstate_reason=%u\nstate_reason_str=%s\n"
		       "writes_seen=%" PRIu64 "\nbytes_seen=%" PRIu64 "\nrecords=%" PRIu64
		       "\nrecords_pending=%" PRIu64 "\nrecords_dropped=%" PRIu64
		       "\nnext_seq=%" PRIu64 "\ncommitted_seq=%" PRIu64 "\nmem_used=%" PRIu64
		       "\nmode_changes=%" PRIu64 "\ndirty_bits=%" PRIu64 "\n",
		       s.mode, s.mode_reason, s.state, s.state_reason,
		       cbt_reason_str(s.state_reason), s.writes_seen, s.bytes_seen, s.records,
		       s.records_pending, s.records_dropped, s.next_seq, s.committed_seq,
		       s.mem_used, s.mode_changes, s.dirty_bits);
		return 0;
	}
	if (!strcmp(cmd, "tag") && (argc == 4 || argc == 5)) {
		struct cbt_ioc_tag t = { .hdr = CBT_IOC_HDR_INIT(struct cbt_ioc_tag) };

		copy_name(t.devices[0], sizeof(t.devices[0]), argv[2], "name");
		copy_name(t.tag_name, sizeof(t.tag_name), argv[3], "tag name");
		t.nr_devices = 1;
		if (argc == 5) {
			if (strcmp(argv[4], "app"))
				return usage();
			t.flags = CBT_TAG_APP_CONSISTENT;
		}
		call(CBT_IOC_TAG, &t, "TAG");
		printf("tag_id=%" PRIu64 " seq=%" PRIu64 "\n", t.tag_id, t.seqs[0]);
		return 0;
	}
	if (!strcmp(cmd, "freeze") && argc == 3)
		return fs_ioctl(argv[2], FIFREEZE, "FIFREEZE");
	if (!strcmp(cmd, "thaw") && argc == 3)
		return fs_ioctl(argv[2], FITHAW, "FITHAW");
	return usage();
}
