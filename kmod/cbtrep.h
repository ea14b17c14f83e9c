/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cbtrep.ko internals: one struct cbt_kdev per attached device, shared by the I/O path
 * (dev.c), persistence (persist.c) and the control device (ctl.c).
 */
#ifndef CBTREP_KMOD_H
#define CBTREP_KMOD_H

#include <linux/blkdev.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "feature.h"
#include "../core/cbt_tracker.h"

#define CBTREP_MODULE_VERSION "0.2.0"

/* Whole-disk and partition attaches of the same disk can both see one bio. */
#define CBT_MAX_MATCH 4

struct cbt_kdev {
	struct list_head list; /* cbt_devs, RCU for the I/O path */
	struct kref ref;       /* list + every bio in flight + WAIT callers */
	struct cbt_tracker *t;
	char name[CBT_NAME_LEN];
	char meta_path[CBT_PATH_LEN];
	uint32_t flags;	      /* CBT_ATTACH_* */
	struct gendisk *disk; /* lookup key, with the range below */
	sector_t start;	      /* first sector in disk sectors (partition start) */
	sector_t nr_sectors;
#if defined(HAVE_BDEV_FILE_OPEN_BY_DEV)
	struct file *bdev_file;
#endif
	struct block_device *bdev;
	wait_queue_head_t wq; /* WAIT and detach */
	bool detaching;
	atomic64_t hook_calls;
	atomic64_t hook_ns; /* submission side, STATUS */
	atomic64_t end_ns;  /* completion side, logged at detach */
	struct work_struct free_work;
};

/* Frees devices whose last reference went in a completion context. */
extern struct workqueue_struct *cbt_free_wq;

/* Serializes every control operation (attach, detach, get, commit, cut, tag, ...). */
extern struct mutex cbt_ctl_mutex;

/* dev.c */
int cbt_dev_init(void); /* module init: the per-bio context cache */
void cbt_dev_exit(void);
struct cbt_kdev *cbt_dev_find(const char *name); /* under cbt_ctl_mutex */
int cbt_dev_attach(struct cbt_ioc_attach *a);
int cbt_dev_detach(struct cbt_kdev *kd, uint32_t flags);
void cbt_dev_put(struct cbt_kdev *kd);
int cbt_dev_count(void);
void cbt_dev_list(char (*names)[CBT_NAME_LEN], uint32_t max, uint32_t *count);
bool cbt_dev_removed(struct cbt_kdev *kd);

/* chunk.c (the alloc/free pair is declared in cbt_os_impl.h for the core) */
void cbt_chunk_pool_empty(void);

/* persist.c */
int cbt_meta_check_path(struct cbt_kdev *kd);
int cbt_meta_attach(struct cbt_kdev *kd, uint32_t *found_state, uint32_t *found_reason);
int cbt_meta_detach(struct cbt_kdev *kd, bool discard);

#endif
