// SPDX-License-Identifier: GPL-2.0
/*
 * cbtrep: block-level change tracker for disaster recovery.
 *
 * Module entry: registers the control device /dev/cbtrep-ctl (root only). Devices are
 * attached through it (ctl.c); every attached device pins the module, so rmmod is refused
 * while anything is tracked.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/workqueue.h>

#include "cbtrep.h"
#include "ctl.h"

struct workqueue_struct *cbt_free_wq;

static const struct file_operations cbtrep_ctl_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = cbt_ctl_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice cbtrep_ctl_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "cbtrep-ctl",
	.fops = &cbtrep_ctl_fops,
	.mode = 0600,
};

static int __init cbtrep_init(void)
{
	int ret;

	ret = cbt_dev_init();
	if (ret)
		return ret;
	cbt_free_wq = alloc_workqueue("cbtrep_free", 0, 0);
	if (!cbt_free_wq) {
		cbt_dev_exit();
		return -ENOMEM;
	}
	ret = misc_register(&cbtrep_ctl_dev);
	if (ret) {
		pr_err("cannot register /dev/%s: %d\n", cbtrep_ctl_dev.name, ret);
		destroy_workqueue(cbt_free_wq);
		cbt_dev_exit();
		return ret;
	}
	pr_info("loaded, version %s, ABI %u\n", CBTREP_MODULE_VERSION, CBT_ABI_VERSION);
	return 0;
}

static void __exit cbtrep_exit(void)
{
	misc_deregister(&cbtrep_ctl_dev);
	/* Devices freed from completion context are freed by now. */
	destroy_workqueue(cbt_free_wq);
	cbt_chunk_pool_empty();
	cbt_dev_exit();
	pr_info("unloaded\n");
}

module_init(cbtrep_init);
module_exit(cbtrep_exit);

MODULE_DESCRIPTION("cbtrep block-level change tracker");
MODULE_LICENSE("GPL");
MODULE_VERSION(CBTREP_MODULE_VERSION);
