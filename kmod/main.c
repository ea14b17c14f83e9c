// SPDX-License-Identifier: GPL-2.0
/*
 * cbtrep: block-level change tracker for disaster recovery.
 *
 * This is the minimal module the kernel test harness needs: it registers the control
 * device /dev/cbtrep-ctl (root only) that answers one ioctl, the ABI version. Tracking
 * comes later, behind the same device.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include <cbtrep/ioctl.h>

#define CBTREP_MODULE_VERSION "0.1.0"

static long cbtrep_ioc_version(void __user *uarg)
{
	struct cbt_ioc_version v;

	if (copy_from_user(&v, uarg, sizeof(v)))
		return -EFAULT;
	if (cbt_ioc_hdr_check(&v.hdr, sizeof(v)) != CBT_FMT_OK)
		return -EINVAL;
	v.abi_version = CBT_ABI_VERSION;
	v.features = 0;
	memset(v.module_version, 0, sizeof(v.module_version));
	strscpy(v.module_version, CBTREP_MODULE_VERSION, sizeof(v.module_version));
	if (copy_to_user(uarg, &v, sizeof(v)))
		return -EFAULT;
	return 0;
}

static long cbtrep_ctl_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	/* The device node is 0600 already; the check also covers a node made by hand. */
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;

	switch (cmd) {
	case CBT_IOC_VERSION:
		return cbtrep_ioc_version(uarg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations cbtrep_ctl_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = cbtrep_ctl_ioctl,
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

	ret = misc_register(&cbtrep_ctl_dev);
	if (ret) {
		pr_err("cannot register /dev/%s: %d\n", cbtrep_ctl_dev.name, ret);
		return ret;
	}
	pr_info("loaded, version %s, ABI %u\n", CBTREP_MODULE_VERSION, CBT_ABI_VERSION);
	return 0;
}

static void __exit cbtrep_exit(void)
{
	misc_deregister(&cbtrep_ctl_dev);
	pr_info("unloaded\n");
}

module_init(cbtrep_init);
module_exit(cbtrep_exit);

MODULE_DESCRIPTION("cbtrep block-level change tracker");
MODULE_LICENSE("GPL");
MODULE_VERSION(CBTREP_MODULE_VERSION);
