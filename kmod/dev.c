// SPDX-License-Identifier: GPL-2.0
/*
 * Attached devices and the write path: the device table (RCU for the I/O path, a mutex
 * for changes), attach/detach, and what happens to every submitted bio.
 *
 * Completion is observed by chaining: the hook saves the bio's bi_end_io/bi_private in a
 * small context and installs cbt_end_io(), which tells the core, restores both and calls
 * the original. A bio the block layer splits and resubmits still carries cbt_end_io()
 * and is recognised as already tracked.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/highmem.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "cbtrep.h"
#include "hook.h"

DEFINE_MUTEX(cbt_ctl_mutex);
static LIST_HEAD(cbt_devs);
static int nr_devs;

/* ---- events from the core ------------------------------------------------------------ */

void cbt_os_event(void *os_ctx, const struct cbt_event *ev)
{
	struct cbt_kdev *kd = os_ctx;

	switch (ev->kind) {
	case CBT_EV_MODE:
		pr_info_ratelimited("%s: mode %s -> %s: %s\n", kd->name, cbt_mode_str(ev->from),
				    cbt_mode_str(ev->to), cbt_reason_str(ev->reason));
		break;
	case CBT_EV_STATE:
		pr_info_ratelimited("%s: state %s -> %s: %s\n", kd->name, cbt_state_str(ev->from),
				    cbt_state_str(ev->to), cbt_reason_str(ev->reason));
		break;
	default:
		break;
	}
	/* With one write in flight every completion is a READY and an IDLE event, and usually
	 * nobody waits: skip the waitqueue's lock then. The barrier in wq_has_sleeper() pairs
	 * with the one in the waiter's prepare_to_wait() (the tracker lock already ordered the
	 * state change the waiter tests). */
	if (wq_has_sleeper(&kd->wq))
		wake_up_all(&kd->wq);
}

/* ---- lifetime ------------------------------------------------------------------------ */

static void cbt_dev_free(struct cbt_kdev *kd)
{
	cbt_tracker_destroy(kd->t);
	kfree(kd);
}

static void cbt_dev_free_work(struct work_struct *w)
{
	cbt_dev_free(container_of(w, struct cbt_kdev, free_work));
}

static void cbt_dev_release(struct kref *ref)
{
	struct cbt_kdev *kd = container_of(ref, struct cbt_kdev, ref);

	/* The last put may come from a completion (interrupt) context: the tracker's memory
	 * may be vmalloc'ed, so a worker frees it (module exit destroys the queue first). */
	INIT_WORK(&kd->free_work, cbt_dev_free_work);
	queue_work(cbt_free_wq, &kd->free_work);
}

void cbt_dev_put(struct cbt_kdev *kd)
{
	kref_put(&kd->ref, cbt_dev_release);
}

struct cbt_kdev *cbt_dev_find(const char *name)
{
	struct cbt_kdev *kd;

	list_for_each_entry(kd, &cbt_devs,
			    list) if (!strncmp(kd->name, name, CBT_NAME_LEN)) return kd;
	return NULL;
}

int cbt_dev_count(void)
{
	return nr_devs;
}

void cbt_dev_list(char (*names)[CBT_NAME_LEN], uint32_t max, uint32_t *count)
{
	struct cbt_kdev *kd;
	uint32_t n = 0;

	list_for_each_entry(kd, &cbt_devs, list)
	{
		if (n < max)
			memcpy(names[n], kd->name, CBT_NAME_LEN);
		n++;
	}
	*count = n;
}

bool cbt_dev_removed(struct cbt_kdev *kd)
{
#ifdef HAVE_DISK_LIVE
	return !disk_live(kd->disk);
#else
	return test_bit(GD_DEAD, &kd->disk->state);
#endif
}

/* ---- the write path ------------------------------------------------------------------ */

/*
 * The per-bio time counters read the clock on 1 bio in CBT_TIME_SAMPLE and scale: under
 * QEMU/TCG one ktime_get_ns() cost ~150 ns, and four per write were a third of what the
 * tracker itself cost in BITMAP mode. hook_calls stays exact.
 */
#define CBT_TIME_SAMPLE 16
static DEFINE_PER_CPU(unsigned int, cbt_time_ctr);

struct cbt_bioctx {
	bio_end_io_t *end_io;
	void *private;
	int n;
	bool timed; /* this bio is one of the sampled ones */
	struct cbt_kdev *kd[CBT_MAX_MATCH];
	struct cbt_io *io[CBT_MAX_MATCH];
	u64 off[CBT_MAX_MATCH]; /* byte offset of the device's part within the bio */
};

static struct kmem_cache *cbt_ctx_cache;

static void cbt_end_io(struct bio *bio)
{
	struct cbt_bioctx *c = bio->bi_private, done;
	int err = bio->bi_status != BLK_STS_OK ? -EIO : 0;
	u64 t0 = c->timed ? ktime_get_ns() : 0;
	int i;

	/* Free the context before the core hears of the completion: once a detach sees no
	 * write in flight, module exit may destroy the cache. */
	done = *c;
	bio->bi_end_io = c->end_io;
	bio->bi_private = c->private;
	kmem_cache_free(cbt_ctx_cache, c);
	for (i = 0; i < done.n; i++)
		cbt_io_end(done.kd[i]->t, done.io[i], err);
	if (done.timed)
		t0 = (ktime_get_ns() - t0) * CBT_TIME_SAMPLE;
	for (i = 0; i < done.n; i++) {
		if (done.timed)
			atomic64_add(t0, &done.kd[i]->end_ns);
		cbt_dev_put(done.kd[i]);
	}
	if (bio->bi_end_io)
		bio->bi_end_io(bio);
}

static u32 rec_type(struct bio *bio)
{
	switch (bio_op(bio)) {
	case REQ_OP_WRITE:
		return CBT_REC_WRITE;
	case REQ_OP_DISCARD:
		return CBT_REC_DISCARD;
	case REQ_OP_SECURE_ERASE:
		return CBT_REC_SECURE_ERASE;
	case REQ_OP_WRITE_ZEROES:
		return CBT_REC_WRITE_ZEROES;
	default:
		return 0;
	}
}

/* Copies the bio's data into every io that captures it (DATA mode), page by page. */
static void capture_data(struct bio *bio, struct cbt_bioctx *c)
{
	struct bio_vec bv;
	struct bvec_iter iter;
	u64 pos = 0;
	int i, want = 0;

	for (i = 0; i < c->n; i++)
		want |= cbt_io_wants_data(c->io[i]);
	if (!want)
		return;
	bio_for_each_segment(bv, bio, iter)
	{
		u8 *p = kmap_local_page(bv.bv_page);

		for (i = 0; i < c->n; i++) {
			u64 lo = max(pos, c->off[i]);

			if (!cbt_io_wants_data(c->io[i]) || lo >= pos + bv.bv_len)
				continue;
			cbt_io_copy(c->io[i], lo - c->off[i], p + bv.bv_offset + (lo - pos),
				    pos + bv.bv_len - lo);
		}
		kunmap_local(p);
		pos += bv.bv_len;
	}
}

void cbt_hook_bio(struct bio *bio)
{
	struct cbt_bioctx *c = NULL;
	struct cbt_kdev *kd;
	struct gendisk *disk;
	sector_t s, e;
	bool timed;
	u64 t0;
	u32 type, rflags = 0;
	int i;

	type = rec_type(bio);
	if (!type || bio->bi_end_io == cbt_end_io || !bio_sectors(bio))
		return;
	timed = !(this_cpu_inc_return(cbt_time_ctr) % CBT_TIME_SAMPLE);
	t0 = timed ? ktime_get_ns() : 0;
	disk = bio->bi_bdev->bd_disk;
	/* Disk-relative sectors: a remapped bio already is. */
	s = bio->bi_iter.bi_sector;
	if (!bio_flagged(bio, BIO_REMAPPED))
		s += bio->bi_bdev->bd_start_sect;
	e = s + bio_sectors(bio);
	if (bio->bi_opf & REQ_FUA)
		rflags |= CBT_RF_FUA;
	if (bio->bi_opf & REQ_PREFLUSH)
		rflags |= CBT_RF_PREFLUSH;

	rcu_read_lock();
	list_for_each_entry_rcu(kd, &cbt_devs, list)
	{
		sector_t lo, hi;
		struct cbt_io *io = NULL;

		if (kd->disk != disk)
			continue;
		lo = max(s, kd->start);
		hi = min(e, kd->start + kd->nr_sectors);
		if (lo >= hi)
			continue;
		if (!c) {
			/* A cache of its own: no zeroing, and its slabs serve only this path. */
			c = kmem_cache_alloc(cbt_ctx_cache, GFP_NOWAIT | __GFP_NOWARN);
			if (c)
				c->n = 0;
		}
		if (!c || c->n == CBT_MAX_MATCH) {
			/* No context (or more overlapping attaches than it holds): the completion
			 * is invisible to this device, so mark the range (a DIRTY record) and say
			 * a resync is required rather than miss the write. */
			cbt_io_begin(kd->t, type, rflags, lo - kd->start, hi - lo, &io);
			cbt_io_end(kd->t, io, -ENOMEM);
			cbt_tracker_set_state(kd->t, CBT_STATE_RESYNC_REQUIRED,
					      CBT_REASON_ALLOC_FAILED);
			continue;
		}
		kref_get(&kd->ref);
		cbt_io_begin(kd->t, type, rflags, lo - kd->start, hi - lo, &io);
		c->kd[c->n] = kd;
		c->io[c->n] = io;
		c->off[c->n] = (u64)(lo - s) << SECTOR_SHIFT;
		c->n++;
	}
	rcu_read_unlock();
	if (!c)
		return;
	if (type == CBT_REC_WRITE)
		capture_data(bio, c);
	c->end_io = bio->bi_end_io;
	c->private = bio->bi_private;
	bio->bi_private = c;
	bio->bi_end_io = cbt_end_io;
	c->timed = timed;
	if (timed)
		t0 = (ktime_get_ns() - t0) * CBT_TIME_SAMPLE;
	for (i = 0; i < c->n; i++) {
		atomic64_inc(&c->kd[i]->hook_calls);
		if (timed)
			atomic64_add(t0, &c->kd[i]->hook_ns);
	}
}

int cbt_dev_init(void)
{
	cbt_ctx_cache = KMEM_CACHE(cbt_bioctx, 0);
	return cbt_ctx_cache ? 0 : -ENOMEM;
}

void cbt_dev_exit(void)
{
	kmem_cache_destroy(cbt_ctx_cache);
}

/* ---- attach / detach ----------------------------------------------------------------- */

static int open_bdev(struct cbt_kdev *kd, dev_t dev)
{
#if defined(HAVE_BDEV_FILE_OPEN_BY_DEV)
	struct file *f = bdev_file_open_by_dev(dev, BLK_OPEN_READ, NULL, NULL);

	if (IS_ERR(f))
		return PTR_ERR(f);
	kd->bdev_file = f;
	kd->bdev = file_bdev(f);
#elif defined(HAVE_BLKDEV_GET_BY_DEV_FMODE)
	struct block_device *b = blkdev_get_by_dev(dev, FMODE_READ, NULL);

	if (IS_ERR(b))
		return PTR_ERR(b);
	kd->bdev = b;
#else
#error "no way to open a block device by number on this kernel"
#endif
	return 0;
}

static void close_bdev(struct cbt_kdev *kd)
{
#if defined(HAVE_BDEV_FILE_OPEN_BY_DEV)
	fput(kd->bdev_file);
#else
	blkdev_put(kd->bdev, FMODE_READ);
#endif
}

static int freeze(struct block_device *b)
{
#if defined(HAVE_BDEV_FREEZE)
	return bdev_freeze(b);
#elif defined(HAVE_FREEZE_BDEV)
	return freeze_bdev(b);
#else
#error "no way to freeze a block device on this kernel"
#endif
}

static void thaw(struct block_device *b)
{
#if defined(HAVE_BDEV_FREEZE)
	bdev_thaw(b);
#else
	thaw_bdev(b);
#endif
}

int cbt_dev_attach(struct cbt_ioc_attach *a)
{
	struct cbt_tracker_params p = {};
	struct cbt_ioc_status st = {};
	struct cbt_kdev *kd, *o;
	u64 cap = a->mem_cap_bytes;
	dev_t dev;
	int ret;

	if (!cbt_name_valid(a->name, sizeof(a->name)) ||
	    !cbt_str_terminated(a->dev_path, sizeof(a->dev_path)) ||
	    !cbt_str_terminated(a->meta_path, sizeof(a->meta_path)) ||
	    (a->flags & ~CBT_ATTACH_FLAGS_ALL) ||
	    (a->granularity && !cbt_granularity_valid(a->granularity)))
		return -EINVAL;
	if (!cap)
		cap = CBT_MEM_CAP_DEFAULT;
	if (cap < CBT_MEM_CAP_MIN || cap > ((u64)totalram_pages() << PAGE_SHIFT) / 4)
		return -EINVAL;
	if (cbt_dev_find(a->name))
		return -EEXIST;
	if (a->dev_path[0]) {
		ret = lookup_bdev(a->dev_path, &dev);
		if (ret)
			return ret;
	} else {
		if (!a->dev || a->dev > 0xffffffffull)
			return -EINVAL;
		dev = new_decode_dev((u32)a->dev);
	}

	kd = kzalloc(sizeof(*kd), GFP_KERNEL);
	if (!kd)
		return -ENOMEM;
	kref_init(&kd->ref);
	init_waitqueue_head(&kd->wq);
	memcpy(kd->name, a->name, sizeof(kd->name));
	memcpy(kd->meta_path, a->meta_path, sizeof(kd->meta_path));
	kd->flags = a->flags;
	ret = open_bdev(kd, dev);
	if (ret)
		goto free;
	kd->disk = kd->bdev->bd_disk;
	kd->start = bdev_is_partition(kd->bdev) ? kd->bdev->bd_start_sect : 0;
	kd->nr_sectors = bdev_nr_sectors(kd->bdev);
	ret = -EEXIST;
	list_for_each_entry(o, &cbt_devs, list) if (o->disk == kd->disk && o->start == kd->start &&
						    o->nr_sectors == kd->nr_sectors) goto close;
	ret = -EINVAL;
	if (!kd->nr_sectors)
		goto close;

	p.name = kd->name;
	p.device_bytes = (u64)kd->nr_sectors << SECTOR_SHIFT;
	p.granularity = a->granularity;
	p.flags = a->flags;
	p.mem_cap = cap;
	p.os_ctx = kd;
	ret = cbt_tracker_create(&p, &kd->t);
	if (ret)
		goto close;

	if (kd->meta_path[0]) {
		ret = cbt_meta_check_path(kd);
		if (!ret)
			ret = cbt_meta_attach(kd, &a->state, &a->reason);
		if (ret)
			goto destroy;
	} else {
		cbt_tracker_meta_load(kd->t, NULL, 0, &a->state, &a->reason);
	}

	/* Freeze so no write slips between "not tracked" and "tracked": a device without a
	 * filesystem has nothing to freeze and freezing it is a no-op. */
	if (!(a->flags & CBT_ATTACH_NO_FREEZE)) {
		ret = freeze(kd->bdev);
		if (ret) {
			pr_err("%s: cannot freeze the filesystem: %d\n", kd->name, ret);
			goto destroy;
		}
	}
	if (!nr_devs) {
		ret = cbt_hook_install();
		if (ret)
			goto thaw;
	}
	list_add_tail_rcu(&kd->list, &cbt_devs);
	nr_devs++;
	if (!(a->flags & CBT_ATTACH_NO_FREEZE))
		thaw(kd->bdev);
	__module_get(THIS_MODULE);

	cbt_tracker_status(kd->t, &st);
	a->granularity = st.granularity;
	if (!a->state) {
		a->state = st.state;
		a->reason = st.state_reason;
	}
	a->device_bytes = st.device_bytes;
	a->generation = st.generation;
	pr_info("%s: attached to %pg (%llu bytes, granularity %u, cap %llu): %s, %s\n", kd->name,
		kd->bdev, st.device_bytes, st.granularity, cap, cbt_state_str(st.state),
		cbt_reason_str(st.state_reason));
	return 0;

thaw:
	if (!(a->flags & CBT_ATTACH_NO_FREEZE))
		thaw(kd->bdev);
destroy:
	cbt_tracker_destroy(kd->t);
	kd->t = NULL;
close:
	close_bdev(kd);
free:
	kfree(kd);
	return ret;
}

int cbt_dev_detach(struct cbt_kdev *kd, uint32_t flags)
{
	u64 calls;
	int ret = 0;

	kd->detaching = true;
	list_del_rcu(&kd->list);
	nr_devs--;
	/* After this no hook call can find the device; every io it began is counted. */
	synchronize_rcu();
	if (!nr_devs)
		cbt_hook_remove();
	wait_event(kd->wq, cbt_tracker_inflight(kd->t) == 0);
	calls = atomic64_read(&kd->hook_calls);
	if (calls)
		pr_info("%s: per bio: %llu bios, submit %llu ns, complete %llu ns\n", kd->name,
			calls, div64_u64(atomic64_read(&kd->hook_ns), calls),
			div64_u64(atomic64_read(&kd->end_ns), calls));
	if (kd->meta_path[0])
		ret = cbt_meta_detach(kd, flags & CBT_DETACH_DISCARD);
	pr_info("%s: detached%s\n", kd->name, ret ? " (metadata not saved)" : "");
	wake_up_all(&kd->wq);
	close_bdev(kd);
	cbt_dev_put(kd);
	module_put(THIS_MODULE);
	return ret;
}
