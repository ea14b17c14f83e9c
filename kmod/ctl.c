// SPDX-License-Identifier: GPL-2.0
/*
 * The control device's ioctls (include/cbtrep/ioctl.h), dispatched through one table.
 *
 * The dispatcher does what every request has in common, in this order: copy the request
 * in and check its header (version, size) before anything else; the request's own field
 * checks (op->check, before any lookup, so a malformed request is EINVAL whatever it
 * names); take cbt_ctl_mutex; find the device the request names (ENOENT); the common
 * preliminaries the table asks for; the handler (op->run); unlock; copy the request back.
 * Every control operation runs under cbt_ctl_mutex except WAIT, which sleeps holding only
 * a reference to its device. The ioctls that drain or add records (and STATUS, which the
 * engine polls) first let the metadata header's sequence ceiling move ahead when it is
 * half used (cbt_meta_refresh): never the I/O path, which may run in interrupt context.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/nospec.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "cbtrep.h"
#include "ctl.h"

static atomic64_t cbt_tag_ids = ATOMIC64_INIT(0);

/* What the dispatcher does around a handler (struct cbt_ctl_op.flags). */
#define CBT_OP_LOCK BIT(0)    /* run under cbt_ctl_mutex */
#define CBT_OP_NAMED BIT(1)   /* find the device the request names, ENOENT if none (locks) */
#define CBT_OP_REMOVED BIT(2) /* NAMED: a disk that is gone becomes DEVICE_REMOVED first */
#define CBT_OP_REFRESH BIT(3) /* NAMED: move the metadata sequence ceiling ahead if due */
#define CBT_OP_REF BIT(4)     /* NAMED: hold a reference, run without the mutex (sleeps) */
#define CBT_OP_OUT BIT(5)     /* copy the request back when the handler succeeds */

struct cbt_ctl_op {
	unsigned int cmd;
	u32 size;     /* of the request struct: copied in, and back with CBT_OP_OUT */
	u32 name_off; /* CBT_OP_NAMED: offset of the device name in the request */
	u32 flags;    /* CBT_OP_* */
	int out_err;  /* CBT_OP_OUT: also copy back with this error (-ENOSPC, -EAGAIN) */
	/* The request's own fields, before the mutex and any lookup (optional). */
	int (*check)(void *req);
	/* kd is the named device with CBT_OP_NAMED, NULL otherwise. 0 or -errno. */
	int (*run)(struct cbt_kdev *kd, void *req);
};

/* Requests up to this size live on the stack; ATTACH and TAG are larger. */
#define CBT_CTL_STACK_REQ 256

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

static int run_version(struct cbt_kdev *kd, void *req)
{
	struct cbt_ioc_version *v = req;

	v->abi_version = CBT_ABI_VERSION;
	v->features = CBT_FEAT_DATA_MODE | CBT_FEAT_TAGS | CBT_FEAT_PERSIST;
	memset(v->module_version, 0, sizeof(v->module_version));
	strscpy(v->module_version, CBTREP_MODULE_VERSION, sizeof(v->module_version));
	return 0;
}

static int run_attach(struct cbt_kdev *kd, void *req)
{
	struct cbt_ioc_attach *a = req;

	a->state = 0;
	a->reason = 0;
	return cbt_dev_attach(a);
}

static int check_detach(void *req)
{
	struct cbt_ioc_detach *d = req;

	return (d->flags & ~CBT_DETACH_FLAGS_ALL) || d->reserved ? -EINVAL : 0;
}

static int run_detach(struct cbt_kdev *kd, void *req)
{
	struct cbt_ioc_detach *d = req;

	return cbt_dev_detach(kd, d->flags);
}

static int run_status(struct cbt_kdev *kd, void *req)
{
	struct cbt_ioc_status *s = req;

	cbt_tracker_status(kd->t, s);
	s->hook_calls = atomic64_read(&kd->hook_calls);
	s->hook_ns = atomic64_read(&kd->hook_ns);
	return 0;
}

/* Not under the mutex as a whole: the names are allocated before and copied out after. */
static int run_list(struct cbt_kdev *kd, void *req)
{
	struct cbt_ioc_list *l = req;
	char(*names)[CBT_NAME_LEN] = NULL;
	int ret = 0;

	if (l->max > 1024)
		l->max = 1024;
	if (l->max) {
		names = kcalloc(l->max, CBT_NAME_LEN, GFP_KERNEL);
		if (!names)
			return -ENOMEM;
	}
	mutex_lock(&cbt_ctl_mutex);
	cbt_dev_list(names, l->max, &l->count);
	mutex_unlock(&cbt_ctl_mutex);
	if (names && copy_to_user(u64_to_user_ptr(l->buf), names,
				  (size_t)min(l->max, l->count) * CBT_NAME_LEN))
		ret = -EFAULT;
	kfree(names);
	return ret;
}

static int check_get(void *req)
{
	struct cbt_ioc_get *g = req;

	return g->flags ? -EINVAL : 0;
}

/* No buffer is EINVAL only after the name was found: ENOENT comes first for GET. */
static int run_get(struct cbt_kdev *kd, void *req)
{
	struct cbt_ioc_get *g = req;

	memset(&g->batch, 0, sizeof(g->batch));
	if (!g->buf)
		return -EINVAL;
	cbt_meta_refresh(kd);
	return cbt_tracker_get(kd->t, g->max_records, g->buf_len, emit_user,
			       u64_to_user_ptr(g->buf), &g->batch, &g->bytes_needed);
}

static int run_commit(struct cbt_kdev *kd, void *req)
{
	struct cbt_ioc_commit *c = req;

	return cbt_tracker_commit(kd->t, c->batch_id);
}

static int run_wait(struct cbt_kdev *kd, void *req)
{
	struct cbt_ioc_wait *w = req;
	long left;

	w->ready = cbt_tracker_ready(kd->t);
	if (w->ready || !w->timeout_ms)
		return 0;
	left = wait_event_interruptible_timeout(
		kd->wq, (w->ready = cbt_tracker_ready(kd->t)) || READ_ONCE(kd->detaching),
		msecs_to_jiffies(w->timeout_ms));
	if (left < 0)
		return (int)left;
	if (READ_ONCE(kd->detaching))
		return -ENOENT;
	return w->ready ? 0 : -ETIMEDOUT;
}

static int check_tag(void *req)
{
	struct cbt_ioc_tag *t = req;

	if (t->nr_devices < 1 || t->nr_devices > CBT_TAG_MAX_DEVICES ||
	    !cbt_str_terminated(t->tag_name, sizeof(t->tag_name)))
		return -EINVAL;
	return 0;
}

/* Several names: looked up here, each member once (a repeated name is EINVAL). */
static int run_tag(struct cbt_kdev *unused, void *req)
{
	struct cbt_tracker *ts[CBT_TAG_MAX_DEVICES];
	struct cbt_ioc_tag *t = req;
	u32 i, j;

	for (i = 0; i < t->nr_devices; i++) {
		struct cbt_kdev *kd = find(t->devices[i]);

		if (!kd)
			return -ENOENT;
		ts[i] = kd->t;
		for (j = 0; j < i; j++)
			if (ts[j] == ts[i])
				return -EINVAL;
		cbt_meta_refresh(kd);
	}
	t->tag_id = atomic64_inc_return(&cbt_tag_ids);
	memset(t->seqs, 0, sizeof(t->seqs));
	return cbt_tag_group(ts, t->nr_devices, t->tag_name, t->flags, t->tag_id, t->seqs);
}

static int run_mark_dirty(struct cbt_kdev *kd, void *req)
{
	struct cbt_ioc_mark_dirty *m = req;

	return cbt_tracker_mark_dirty(kd->t, m->sector, m->nr_sectors, CBT_REASON_USER_REQUEST);
}

static int run_cut(struct cbt_kdev *kd, void *req)
{
	struct cbt_ioc_cut *c = req;

	return cbt_tracker_cut(kd->t, c->done_generation, &c->generation, &c->dirty_bits);
}

static int check_bitmap_read(void *req)
{
	struct cbt_ioc_bitmap_read *r = req;

	return r->buf ? 0 : -EINVAL;
}

static int run_bitmap_read(struct cbt_kdev *kd, void *req)
{
	struct cbt_ioc_bitmap_read *r = req;

	return cbt_tracker_bitmap_read(kd->t, r->generation, r->first_byte, r->buf_len, emit_user,
				       u64_to_user_ptr(r->buf), &r->bitmap, &r->bytes_copied);
}

/*
 * RESYNC: the core decides (cbt_tracker_resync), the metadata header follows, so a crash
 * or an orderly detach later tells the same story (docs/tracker.md, "Resync-required").
 * A disk gone meanwhile is DEVICE_REMOVED first (CBT_OP_REMOVED): it must not be declared
 * in sync by a resync that could not have read it all, so DONE answers EAGAIN.
 */
static int run_resync(struct cbt_kdev *kd, void *req)
{
	struct cbt_ioc_resync *r = req;
	int ret;

	r->state = 0;
	r->state_reason = 0;
	ret = cbt_tracker_resync(kd->t, r->op, r->reason, r->generation, &r->state,
				 &r->state_reason);
	if (!ret && kd->meta_path[0])
		ret = cbt_meta_update(kd, r->state, r->state_reason);
	return ret;
}

/* Table entries: a request without a device name, and one that names its device. */
#define CBT_CTL_OP(c, type, fl, err, chk, fn)                                                      \
	{                                                                                          \
		.cmd = (c), .size = sizeof(type), .flags = (fl), .out_err = (err), .check = (chk), \
		.run = (fn)                                                                        \
	}
#define CBT_CTL_OP_NAMED(c, type, fl, err, chk, fn)                                                \
	{                                                                                          \
		.cmd = (c), .size = sizeof(type), .name_off = offsetof(type, name),                \
		.flags = CBT_OP_NAMED | (fl), .out_err = (err), .check = (chk), .run = (fn)        \
	}

static const struct cbt_ctl_op cbt_ctl_ops[] = {
	[CBT_IOC_NR_VERSION] = CBT_CTL_OP(CBT_IOC_VERSION, struct cbt_ioc_version, CBT_OP_OUT, 0,
					  NULL, run_version),
	[CBT_IOC_NR_ATTACH] = CBT_CTL_OP(CBT_IOC_ATTACH, struct cbt_ioc_attach,
					 CBT_OP_LOCK | CBT_OP_OUT, 0, NULL, run_attach),
	[CBT_IOC_NR_DETACH] = CBT_CTL_OP_NAMED(CBT_IOC_DETACH, struct cbt_ioc_detach, 0, 0,
					       check_detach, run_detach),
	[CBT_IOC_NR_STATUS] =
		CBT_CTL_OP_NAMED(CBT_IOC_STATUS, struct cbt_ioc_status,
				 CBT_OP_REMOVED | CBT_OP_REFRESH | CBT_OP_OUT, 0, NULL, run_status),
	[CBT_IOC_NR_LIST] =
		CBT_CTL_OP(CBT_IOC_LIST, struct cbt_ioc_list, CBT_OP_OUT, 0, NULL, run_list),
	/* bytes_needed goes back with ENOSPC too. */
	[CBT_IOC_NR_GET] = CBT_CTL_OP_NAMED(CBT_IOC_GET, struct cbt_ioc_get, CBT_OP_OUT, -ENOSPC,
					    check_get, run_get),
	[CBT_IOC_NR_COMMIT] = CBT_CTL_OP_NAMED(CBT_IOC_COMMIT, struct cbt_ioc_commit,
					       CBT_OP_REFRESH, 0, NULL, run_commit),
	[CBT_IOC_NR_WAIT] = CBT_CTL_OP_NAMED(CBT_IOC_WAIT, struct cbt_ioc_wait,
					     CBT_OP_REF | CBT_OP_OUT, 0, NULL, run_wait),
	[CBT_IOC_NR_TAG] = CBT_CTL_OP(CBT_IOC_TAG, struct cbt_ioc_tag, CBT_OP_LOCK | CBT_OP_OUT, 0,
				      check_tag, run_tag),
	[CBT_IOC_NR_MARK_DIRTY] = CBT_CTL_OP_NAMED(CBT_IOC_MARK_DIRTY, struct cbt_ioc_mark_dirty,
						   CBT_OP_REFRESH, 0, NULL, run_mark_dirty),
	[CBT_IOC_NR_BITMAP_CUT] = CBT_CTL_OP_NAMED(CBT_IOC_BITMAP_CUT, struct cbt_ioc_cut,
						   CBT_OP_OUT, 0, NULL, run_cut),
	[CBT_IOC_NR_BITMAP_READ] =
		CBT_CTL_OP_NAMED(CBT_IOC_BITMAP_READ, struct cbt_ioc_bitmap_read, CBT_OP_OUT, 0,
				 check_bitmap_read, run_bitmap_read),
	/* state / state_reason go back with EAGAIN too: DONE refused says why. */
	[CBT_IOC_NR_RESYNC] =
		CBT_CTL_OP_NAMED(CBT_IOC_RESYNC, struct cbt_ioc_resync, CBT_OP_REMOVED | CBT_OP_OUT,
				 -EAGAIN, NULL, run_resync),
};

/* Locking, lookup and the common preliminaries around op->run. */
static int call(const struct cbt_ctl_op *op, void *req)
{
	struct cbt_kdev *kd = NULL;
	int ret;

	if (!(op->flags & (CBT_OP_LOCK | CBT_OP_NAMED)))
		return op->run(NULL, req);

	mutex_lock(&cbt_ctl_mutex);
	if (op->flags & CBT_OP_NAMED) {
		kd = find((const char *)req + op->name_off);
		if (!kd) {
			mutex_unlock(&cbt_ctl_mutex);
			return -ENOENT;
		}
		if ((op->flags & CBT_OP_REMOVED) && cbt_dev_removed(kd))
			cbt_tracker_set_state(kd->t, CBT_STATE_RESYNC_REQUIRED,
					      CBT_REASON_DEVICE_REMOVED);
		if (op->flags & CBT_OP_REFRESH)
			cbt_meta_refresh(kd);
		if (op->flags & CBT_OP_REF) {
			kref_get(&kd->ref);
			mutex_unlock(&cbt_ctl_mutex);
			ret = op->run(kd, req);
			cbt_dev_put(kd);
			return ret;
		}
	}
	ret = op->run(kd, req);
	mutex_unlock(&cbt_ctl_mutex);
	return ret;
}

long cbt_ctl_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *u = (void __user *)arg;
	u64 stack_req[CBT_CTL_STACK_REQ / sizeof(u64)];
	unsigned int nr = _IOC_NR(cmd);
	const struct cbt_ctl_op *op;
	void *req = stack_req;
	int ret;

	/* The device node is 0600 already; the check also covers a node made by hand. */
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (nr >= ARRAY_SIZE(cbt_ctl_ops))
		return -ENOTTY;
	/* The index comes from user space: no speculative read past the table. */
	op = &cbt_ctl_ops[array_index_nospec(nr, ARRAY_SIZE(cbt_ctl_ops))];
	if (!op->run || op->cmd != cmd)
		return -ENOTTY;

	if (op->size > sizeof(stack_req)) {
		req = kmalloc(op->size, GFP_KERNEL);
		if (!req)
			return -ENOMEM;
	}
	if (copy_from_user(req, u, op->size))
		ret = -EFAULT;
	else if (cbt_ioc_hdr_check(req, op->size) != CBT_FMT_OK)
		ret = -EINVAL;
	else
		ret = op->check ? op->check(req) : 0;
	if (!ret)
		ret = call(op, req);
	if ((op->flags & CBT_OP_OUT) && (!ret || (op->out_err && ret == op->out_err)) &&
	    copy_to_user(u, req, op->size))
		ret = -EFAULT;
	if (req != stack_req)
		kfree(req);
	return ret;
}
