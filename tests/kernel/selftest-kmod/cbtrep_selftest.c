// SPDX-License-Identifier: GPL-2.0
/*
 * Harness self-test module: on load it provokes the kernel failure named by the "provoke"
 * parameter, so the harness's log scanning is tested against real kernel output rather
 * than text a script echoes. Never shipped; only the selftest_* scenarios load it.
 */
#include <linux/bug.h>
#include <linux/module.h>
#include <linux/string.h>

static char *provoke = "nothing";
module_param(provoke, charp, 0444);
MODULE_PARM_DESC(provoke, "nothing | warn | oops");

/* volatile: the compiler must not prove the dereference undefined and drop it. */
static int *volatile cbtrep_selftest_null;

static int __init cbtrep_selftest_init(void)
{
	if (!strcmp(provoke, "warn")) {
		WARN(1, "cbtrep_selftest: provoked warning\n");
	} else if (!strcmp(provoke, "oops")) {
		*cbtrep_selftest_null = 1;
	} else if (strcmp(provoke, "nothing")) {
		pr_err("cbtrep_selftest: unknown provoke=%s\n", provoke);
		return -EINVAL;
	}
	return 0;
}

static void __exit cbtrep_selftest_exit(void)
{
}

module_init(cbtrep_selftest_init);
module_exit(cbtrep_selftest_exit);

MODULE_DESCRIPTION("cbtrep kernel test harness self-test");
MODULE_LICENSE("GPL");
