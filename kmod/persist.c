// SPDX-License-Identifier: GPL-2.0
/*
 * The metadata file (include/cbtrep/meta.h): read at attach, written DIRTY before tracking
 * starts, RESYNC_REQUIRED / DIRTY again at RESYNC require / done, CLEAN with the saved
 * bitmap (or resync-required) at an orderly detach. While attached the header's last_seq
 * is a ceiling reserved ahead of the journal numbering, rewritten by cbt_meta_refresh()
 * from the control ioctls when half of it is used (docs/tracker.md, "Sequence numbers
 * across a crash"). Process context only, never from the I/O path. The bitmap is
 * written and synced before the header that points at it, so a torn update reads as the
 * old header or a CRC mismatch (METADATA_INVALID).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "cbtrep.h"
#include "ctl.h"

/* A metadata file is a header and a bitmap of a few MiB at most; refuse to read more. */
#define CBT_META_MAX_FILE (64u << 20)

static bool ranges_overlap(sector_t a, sector_t an, sector_t b, sector_t bn)
{
	return a < b + bn && b < a + an;
}

/* The metadata must not live on the tracked device: writing it would be a tracked write
 * and a crash of that device would take the evidence with it. */
int cbt_meta_check_path(struct cbt_kdev *kd)
{
	struct file *f;
	struct inode *inode;
	struct block_device *b = NULL;
	int ret = 0;

	f = filp_open(kd->meta_path, O_RDWR | O_CREAT | O_LARGEFILE, 0600);
	if (IS_ERR(f))
		return PTR_ERR(f);
	inode = file_inode(f);
	if (S_ISBLK(inode->i_mode)) {
		dev_t dev = inode->i_rdev;

		if (dev == kd->bdev->bd_dev || dev == disk_devt(kd->disk))
			ret = -EINVAL;
		else if (MAJOR(dev) == MAJOR(disk_devt(kd->disk)))
			ret = -EINVAL; /* a partition of the same disk: refuse, to be safe */
	} else if (S_ISREG(inode->i_mode)) {
		b = inode->i_sb->s_bdev;
		if (b && b->bd_disk == kd->disk &&
		    ranges_overlap(bdev_is_partition(b) ? b->bd_start_sect : 0, bdev_nr_sectors(b),
				   kd->start, kd->nr_sectors))
			ret = -EINVAL;
	} else {
		ret = -EINVAL;
	}
	filp_close(f, NULL);
	if (ret)
		pr_err("%s: metadata %s is on the tracked device or not a file\n", kd->name,
		       kd->meta_path);
	return ret;
}

static int write_all(struct file *f, const void *buf, size_t len, loff_t pos)
{
	while (len) {
		ssize_t n = kernel_write(f, buf, len, &pos);

		if (n < 0)
			return (int)n;
		if (!n)
			return -EIO;
		buf += n;
		len -= n;
	}
	return 0;
}

static int write_image(struct cbt_kdev *kd, const u8 *img, u64 len)
{
	struct file *f;
	int ret = 0;

	f = filp_open(kd->meta_path, O_WRONLY | O_CREAT | O_LARGEFILE, 0600);
	if (IS_ERR(f))
		return PTR_ERR(f);
	if (len > CBT_META_AREA_SIZE) {
		ret = write_all(f, img + CBT_META_AREA_SIZE, len - CBT_META_AREA_SIZE,
				CBT_META_AREA_SIZE);
		if (!ret)
			ret = vfs_fsync(f, 0);
	}
	if (!ret)
		ret = write_all(f, img, CBT_META_AREA_SIZE, 0);
	if (!ret)
		ret = vfs_fsync(f, 0);
	filp_close(f, NULL);
	if (ret)
		pr_err_ratelimited("%s: writing metadata %s failed: %d\n", kd->name, kd->meta_path,
				   ret);
	else
		cbt_tracker_meta_written(kd->t, img); /* numbering may use its ceiling now */
	return ret;
}

int cbt_meta_attach(struct cbt_kdev *kd, uint32_t *found_state, uint32_t *found_reason)
{
	struct file *f;
	u8 *buf = NULL, *img;
	loff_t size, pos = 0;
	ssize_t n = 0;
	u64 len;
	int ret;

	f = filp_open(kd->meta_path, O_RDONLY | O_LARGEFILE, 0);
	if (IS_ERR(f))
		return PTR_ERR(f);
	size = i_size_read(file_inode(f));
	if (size > CBT_META_MAX_FILE)
		size = CBT_META_MAX_FILE;
	if (size > 0) {
		buf = kvmalloc(size, GFP_KERNEL);
		if (!buf) {
			filp_close(f, NULL);
			return -ENOMEM;
		}
		n = kernel_read(f, buf, size, &pos);
	}
	filp_close(f, NULL);
	cbt_tracker_meta_load(kd->t, buf, n > 0 ? n : 0, found_state, found_reason);
	kvfree(buf);

	/* Dirty from now on: only an orderly detach makes it clean again, so a crash reads
	 * as UNCLEAN_SHUTDOWN at the next attach (a resync-required state found now stays
	 * visible in STATUS meanwhile, and a crash requires a resync anyway). */
	img = kvzalloc(CBT_META_AREA_SIZE, GFP_KERNEL);
	if (!img)
		return -ENOMEM;
	len = cbt_tracker_meta_build(kd->t, CBT_STATE_DIRTY, 0, 0, img);
	ret = write_image(kd, img, len);
	kvfree(img);
	return ret;
}

int cbt_meta_detach(struct cbt_kdev *kd, bool discard)
{
	u64 len = cbt_tracker_meta_size(kd->t);
	u32 state, reason;
	u8 *img;
	int ret;

	/* Called once no write can complete any more (dev.c waited for them): the header
	 * gets the exact last number, so the next attach continues without a jump. */
	cbt_tracker_seq_final(kd->t);
	img = kvzalloc(len, GFP_KERNEL);
	if (!img)
		return -ENOMEM;
	cbt_tracker_get_state(kd->t, &state, &reason);
	/* An orderly detach saves everything not yet replicated (a bitmap that lost a page
	 * reads as all-changed, so nothing is hidden). A resync-required state stays
	 * resync-required with its reason until RESYNC_DONE clears it: a saved bitmap cannot
	 * stand for changes the engine lost or never saw. NEW_DEVICE is the exception: the
	 * bitmap then holds every change since the first attach and whether the replica was
	 * ever seeded is the engine's knowledge (docs/tracker.md, "Persistence"). */
	if (discard)
		len = cbt_tracker_meta_build(kd->t, CBT_STATE_RESYNC_REQUIRED,
					     CBT_REASON_USER_REQUEST, 0, img);
	else if (state == CBT_STATE_RESYNC_REQUIRED && reason != CBT_REASON_NEW_DEVICE)
		len = cbt_tracker_meta_build(kd->t, state, reason, 0, img);
	else
		len = cbt_tracker_meta_build(kd->t, CBT_STATE_CLEAN, 0, 1, img);
	ret = write_image(kd, img, len);
	kvfree(img);
	return ret;
}

/*
 * While attached the header says DIRTY (a crash reads as UNCLEAN_SHUTDOWN), or, once
 * RESYNC_REQUIRE was asked, RESYNC_REQUIRED with its reason until RESYNC_DONE writes DIRTY
 * again. Header only: the saved bitmap is for an orderly detach.
 */
int cbt_meta_update(struct cbt_kdev *kd, uint32_t state, uint32_t reason)
{
	u8 *img;
	u64 len;
	int ret;

	if (state != CBT_STATE_RESYNC_REQUIRED) {
		state = CBT_STATE_DIRTY;
		reason = CBT_REASON_NONE;
	}
	img = kvzalloc(CBT_META_AREA_SIZE, GFP_KERNEL);
	if (!img)
		return -ENOMEM;
	len = cbt_tracker_meta_build(kd->t, state, reason, 0, img);
	ret = write_image(kd, img, len);
	kvfree(img);
	return ret;
}

/*
 * Rewrites the header with a new sequence ceiling when less than half of the reserved
 * numbers are left (cbt_tracker_meta_due), repeating the state and reason the header
 * already says. Called under cbt_ctl_mutex by the ioctls that drain or add records, so
 * a failed write is retried at the next one; should the ceiling be reached meanwhile,
 * the core stops numbering (BITMAP, resync-required) rather than reuse numbers.
 */
void cbt_meta_refresh(struct cbt_kdev *kd)
{
	u32 state, reason;
	u8 *img;
	u64 len;

	if (!kd->meta_path[0] || !cbt_tracker_meta_due(kd->t, &state, &reason))
		return;
	img = kvzalloc(CBT_META_AREA_SIZE, GFP_KERNEL);
	if (!img)
		return;
	len = cbt_tracker_meta_build(kd->t, state, reason, 0, img);
	write_image(kd, img, len);
	kvfree(img);
}
