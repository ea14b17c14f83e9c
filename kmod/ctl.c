// SPDX-License-Identifier: GPL-2.0
/*
 * The control device's ioctls (include/cbtrep/ioctl.h). Every request's header (version,
 * size) is checked before anything else; every control operation runs under
 * cbt_ctl_mutex except WAIT, which sleeps holding only a reference to its device.
 * The ioctls that drain or add records (and STATUS, which the engine polls) first let the
 * metadata header's sequence ceiling move ahead when it is half used (cbt_meta_refresh):
 * never the I/O path, which may run in interrupt context.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "cbtrep.h"
#include "ctl.h"

static atomic64_t cbt_tag_ids = ATOMIC64_INIT(0);

/* Copies a request in and checks its header: EFAULT, or EINVAL for a bad version/size. */
static int fetch(void *dst, void __user *src, size_t size)
{
	if (copy_from_user(dst, src, size))
		return -EFAULT;
	if (cbt_ioc_hdr_check(dst, size) != CBT_FMT_OK)
		return -EINVAL;
	return 0;
}

static int put(void __user *dst, const void *src, size_t size)
{
	return copy_to_user(dst, src, size) ? -EFAULT : 0;
}

static struct cbt_kdev *find(const char *name)
{
	if (!cbt_str_terminated(name, CBT_NAME_LEN))
		return NULL;
	return cbt_dev_find(name);
}

static int emit_user(void *ctx, uint64_t off, const void *src, uint64_t len)
{
	u8 __user *base = ctx;

	return copy_to_user(base + off, src, len) ? CBT_EFAULT : 0;
}

static long ioc_version(void __user *u)
{
	struct cbt_ioc_version v;
	int ret = fetch(&v, u, sizeof(v));

	if (ret)
		return ret;
	v.abi_version = CBT_ABI_VERSION;
	v.features = CBT_FEAT_DATA_MODE | CBT_FEAT_TAGS | CBT_FEAT_PERSIST;
	memset(v.module_version, 0, sizeof(v.module_version));
	strscpy(v.module_version, CBTREP_MODULE_VERSION, sizeof(v.module_version));
	return put(u, &v, sizeof(v));
}

static long ioc_attach(void __user *u)
{
	struct cbt_ioc_attach *a;
	int ret;

	a = kmalloc(sizeof(*a), GFP_KERNEL);
	if (!a)
		return -ENOMEM;
	ret = fetch(a, u, sizeof(*a));
	if (!ret) {
		a->state = 0;
		a->reason = 0;
		mutex_lock(&cbt_ctl_mutex);
		ret = cbt_dev_attach(a);
		mutex_unlock(&cbt_ctl_mutex);
	}
	if (!ret)
		ret = put(u, a, sizeof(*a));
	kfree(a);
	return ret;
}

static long ioc_detach(void __user *u)
{
	struct cbt_ioc_detach d;
	struct cbt_kdev *kd;
	int ret = fetch(&d, u, sizeof(d));

	if (ret)
		return ret;
	if ((d.flags & ~CBT_DETACH_FLAGS_ALL) || d.reserved)
		return -EINVAL;
	mutex_lock(&cbt_ctl_mutex);
	kd = find(d.name);
	ret = kd ? cbt_dev_detach(kd, d.flags) : -ENOENT;
	mutex_unlock(&cbt_ctl_mutex);
	return ret;
}

static long ioc_status(void __user *u)
{
	struct cbt_ioc_status s;
	struct cbt_kdev *kd;
	int ret = fetch(&s, u, sizeof(s));

	if (ret)
		return ret;
	mutex_lock(&cbt_ctl_mutex);
	kd = find(s.name);
	if (kd) {
		if (cbt_dev_removed(kd))
			cbt_tracker_set_state(kd->t, CBT_STATE_RESYNC_REQUIRED,
					      CBT_REASON_DEVICE_REMOVED);
		cbt_meta_refresh(kd);
		cbt_tracker_status(kd->t, &s);
		s.hook_calls = atomic64_read(&kd->hook_calls);
		s.hook_ns = atomic64_read(&kd->hook_ns);
	}
	mutex_unlock(&cbt_ctl_mutex);
	return kd ? put(u, &s, sizeof(s)) : -ENOENT;
}

static long ioc_list(void __user *u)
{
	struct cbt_ioc_list l;
	char(*names)[CBT_NAME_LEN] = NULL;
	int ret = fetch(&l, u, sizeof(l));

	if (ret)
		return ret;
	if (l.max > 1024)
		l.max = 1024;
	if (l.max) {
		names = kcalloc(l.max, CBT_NAME_LEN, GFP_KERNEL);
		if (!names)
			return -ENOMEM;
	}
	mutex_lock(&cbt_ctl_mutex);
	cbt_dev_list(names, l.max, &l.count);
	mutex_unlock(&cbt_ctl_mutex);
	if (names &&
	    copy_to_user(u64_to_user_ptr(l.buf), names, (size_t)min(l.max, l.count) * CBT_NAME_LEN))
		ret = -EFAULT;
	kfree(names);
	return ret ? ret : put(u, &l, sizeof(l));
}

static long ioc_get(void __user *u)
{
	struct cbt_ioc_get g;
	struct cbt_kdev *kd;
	int ret = fetch(&g, u, sizeof(g));

	if (ret)
		return ret;
	if (g.flags)
		return -EINVAL;
	memset(&g.batch, 0, sizeof(g.batch));
	mutex_lock(&cbt_ctl_mutex);
	kd = find(g.name);
	if (!kd) {
		ret = -ENOENT;
	} else if (!g.buf) {
		ret = -EINVAL;
	} else {
		cbt_meta_refresh(kd);
		ret = cbt_tracker_get(kd->t, g.max_records, g.buf_len, emit_user,
				      u64_to_user_ptr(g.buf), &g.batch, &g.bytes_needed);
	}
	mutex_unlock(&cbt_ctl_mutex);
	/* bytes_needed goes back with ENOSPC too. */
	if (!ret || ret == -ENOSPC) {
		int r = put(u, &g, sizeof(g));

		if (r)
			return r;
	}
	return ret;
}

static long ioc_commit(void __user *u)
{
	struct cbt_ioc_commit c;
	struct cbt_kdev *kd;
	int ret = fetch(&c, u, sizeof(c));

	if (ret)
		return ret;
	mutex_lock(&cbt_ctl_mutex);
	kd = find(c.name);
	if (kd)
		cbt_meta_refresh(kd);
	ret = kd ? cbt_tracker_commit(kd->t, c.batch_id) : -ENOENT;
	mutex_unlock(&cbt_ctl_mutex);
	return ret;
}

static long ioc_wait(void __user *u)
{
	struct cbt_ioc_wait w;
	struct cbt_kdev *kd;
	long left;
	int ret = fetch(&w, u, sizeof(w));

	if (ret)
		return ret;
	mutex_lock(&cbt_ctl_mutex);
	kd = find(w.name);
	if (kd)
		kref_get(&kd->ref);
	mutex_unlock(&cbt_ctl_mutex);
	if (!kd)
		return -ENOENT;
	w.ready = cbt_tracker_ready(kd->t);
	if (!w.ready && w.timeout_ms) {
		left = wait_event_interruptible_timeout(
			kd->wq, (w.ready = cbt_tracker_ready(kd->t)) || READ_ONCE(kd->detaching),
			msecs_to_jiffies(w.timeout_ms));
		if (left < 0)
			ret = (int)left;
		else if (READ_ONCE(kd->detaching))
			ret = -ENOENT;
		else if (!w.ready)
			ret = -ETIMEDOUT;
	}
	cbt_dev_put(kd);
	return ret ? ret : put(u, &w, sizeof(w));
}

static long ioc_tag(void __user *u)
{
	struct cbt_tracker *ts[CBT_TAG_MAX_DEVICES];
	struct cbt_ioc_tag *t;
	u32 i, j;
	int ret;

	t = kmalloc(sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	ret = fetch(t, u, sizeof(*t));
	if (ret)
		goto out;
	ret = -EINVAL;
	if (t->nr_devices < 1 || t->nr_devices > CBT_TAG_MAX_DEVICES ||
	    !cbt_str_terminated(t->tag_name, sizeof(t->tag_name)))
		goto out;
	mutex_lock(&cbt_ctl_mutex);
	for (i = 0; i < t->nr_devices; i++) {
		struct cbt_kdev *kd = find(t->devices[i]);

		if (!kd) {
			ret = -ENOENT;
			goto unlock;
		}
		ts[i] = kd->t;
		for (j = 0; j < i; j++)
			if (ts[j] == ts[i])
				goto unlock;
		cbt_meta_refresh(kd);
	}
	t->tag_id = atomic64_inc_return(&cbt_tag_ids);
	memset(t->seqs, 0, sizeof(t->seqs));
	ret = cbt_tag_group(ts, t->nr_devices, t->tag_name, t->flags, t->tag_id, t->seqs);
unlock:
	mutex_unlock(&cbt_ctl_mutex);
	if (!ret)
		ret = put(u, t, sizeof(*t));
out:
	kfree(t);
	return ret;
}

static long ioc_mark_dirty(void __user *u)
{
	struct cbt_ioc_mark_dirty m;
	struct cbt_kdev *kd;
	int ret = fetch(&m, u, sizeof(m));

	if (ret)
		return ret;
	mutex_lock(&cbt_ctl_mutex);
	kd = find(m.name);
	if (kd)
		cbt_meta_refresh(kd);
	ret = kd ? cbt_tracker_mark_dirty(kd->t, m.sector, m.nr_sectors, CBT_REASON_USER_REQUEST)
		 : -ENOENT;
	mutex_unlock(&cbt_ctl_mutex);
	return ret;
}

static long ioc_cut(void __user *u)
{
	struct cbt_ioc_cut c;
	struct cbt_kdev *kd;
	int ret = fetch(&c, u, sizeof(c));

	if (ret)
		return ret;
	mutex_lock(&cbt_ctl_mutex);
	kd = find(c.name);
	ret = kd ? cbt_tracker_cut(kd->t, c.done_generation, &c.generation, &c.dirty_bits)
		 : -ENOENT;
	mutex_unlock(&cbt_ctl_mutex);
	return ret ? ret : put(u, &c, sizeof(c));
}

static long ioc_bitmap_read(void __user *u)
{
	struct cbt_ioc_bitmap_read r;
	struct cbt_kdev *kd;
	int ret = fetch(&r, u, sizeof(r));

	if (ret)
		return ret;
	if (!r.buf)
		return -EINVAL;
	mutex_lock(&cbt_ctl_mutex);
	kd = find(r.name);
	ret = kd ? cbt_tracker_bitmap_read(kd->t, r.generation, r.first_byte, r.buf_len, emit_user,
					   u64_to_user_ptr(r.buf), &r.bitmap, &r.bytes_copied)
		 : -ENOENT;
	mutex_unlock(&cbt_ctl_mutex);
	return ret ? ret : put(u, &r, sizeof(r));
}

/*
 * RESYNC: the core decides (cbt_tracker_resync), the metadata header follows, so a crash
 * or an orderly detach later tells the same story (docs/tracker.md, "Resync-required").
 * state / state_reason go back with EAGAIN too: DONE refused says why.
 */
static long ioc_resync(void __user *u)
{
	struct cbt_ioc_resync r;
	struct cbt_kdev *kd;
	int ret = fetch(&r, u, sizeof(r));

	if (ret)
		return ret;
	r.state = 0;
	r.state_reason = 0;
	mutex_lock(&cbt_ctl_mutex);
	kd = find(r.name);
	if (!kd) {
		ret = -ENOENT;
	} else {
		/* A disk gone meanwhile must not be declared in sync by a resync that could
		 * not have read it all: this makes DONE answer EAGAIN. */
		if (cbt_dev_removed(kd))
			cbt_tracker_set_state(kd->t, CBT_STATE_RESYNC_REQUIRED,
					      CBT_REASON_DEVICE_REMOVED);
		ret = cbt_tracker_resync(kd->t, r.op, r.reason, r.generation, &r.state,
					 &r.state_reason);
		if (!ret && kd->meta_path[0])
			ret = cbt_meta_update(kd, r.state, r.state_reason);
	}
	mutex_unlock(&cbt_ctl_mutex);
	if (!ret || ret == -EAGAIN) {
		int e = put(u, &r, sizeof(r));

		if (e)
			return e;
	}
	return ret;
}

long cbt_ctl_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *u = (void __user *)arg;

	/* The device node is 0600 already; the check also covers a node made by hand. */
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;

	switch (cmd) {
	case CBT_IOC_VERSION:
		return ioc_version(u);
	case CBT_IOC_ATTACH:
		return ioc_attach(u);
	case CBT_IOC_DETACH:
		return ioc_detach(u);
	case CBT_IOC_STATUS:
		return ioc_status(u);
	case CBT_IOC_LIST:
		return ioc_list(u);
	case CBT_IOC_GET:
		return ioc_get(u);
	case CBT_IOC_COMMIT:
		return ioc_commit(u);
	case CBT_IOC_WAIT:
		return ioc_wait(u);
	case CBT_IOC_TAG:
		return ioc_tag(u);
	case CBT_IOC_MARK_DIRTY:
		return ioc_mark_dirty(u);
	case CBT_IOC_BITMAP_CUT:
		return ioc_cut(u);
	case CBT_IOC_BITMAP_READ:
		return ioc_bitmap_read(u);
	case CBT_IOC_RESYNC:
		return ioc_resync(u);
	default:
		return -ENOTTY;
	}
}
