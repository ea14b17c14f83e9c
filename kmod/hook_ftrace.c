// SPDX-License-Identifier: GPL-2.0
/*
 * Interception by an ftrace redirect of submit_bio_noacct(): the ftrace handler points
 * the instruction pointer at cbt_submit_bio_noacct(), which records the bio and calls the
 * real function. The real function's own ftrace call then sees our module as its caller
 * and lets it through (the recursion guard). Nothing is patched by hand: CPU write
 * protection is never touched.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/delay.h>
#include <linux/ftrace.h>
#include <linux/kprobes.h>
#include <linux/module.h>

#include "feature.h"
#include "hook.h"

static unsigned long target_ip;
static atomic_t inside = ATOMIC_INIT(0);

/*
 * Runs instead of submit_bio_noacct(). The asm statement after the call keeps the call
 * from becoming a tail call: a sibling-call jmp would leave the original caller as the
 * parent the guard checks, and the redirect would loop forever.
 */
static void notrace cbt_submit_bio_noacct(struct bio *bio)
{
	atomic_inc(&inside);
	cbt_hook_bio(bio);
	submit_bio_noacct(bio);
	atomic_dec(&inside);
	asm volatile("" ::: "memory");
}

static void notrace cbt_ftrace_handler(unsigned long ip, unsigned long parent_ip,
				       struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	if (within_module(parent_ip, THIS_MODULE))
		return;
#if defined(HAVE_FTRACE_REGS_SET_IP)
	ftrace_regs_set_instruction_pointer(fregs, (unsigned long)cbt_submit_bio_noacct);
#elif defined(HAVE_FTRACE_INSTRUCTION_POINTER_SET)
	ftrace_instruction_pointer_set(fregs, (unsigned long)cbt_submit_bio_noacct);
#else
#error "no way to set the instruction pointer from an ftrace handler on this kernel"
#endif
}

static struct ftrace_ops cbt_ftrace_ops = {
	.func = cbt_ftrace_handler,
	.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_IPMODIFY | FTRACE_OPS_FL_RECURSION,
};

/* kallsyms_lookup_name() is not exported; a kprobe resolves the symbol for us. */
static unsigned long lookup_symbol(const char *name)
{
	struct kprobe kp = { .symbol_name = name };
	unsigned long addr;

	if (register_kprobe(&kp) < 0)
		return 0;
	addr = (unsigned long)kp.addr;
	unregister_kprobe(&kp);
	return addr;
}

int cbt_hook_install(void)
{
	int ret;

	target_ip = lookup_symbol("submit_bio_noacct");
	if (!target_ip) {
		pr_err("cannot find submit_bio_noacct\n");
		return -ENOENT;
	}
	ret = ftrace_set_filter_ip(&cbt_ftrace_ops, target_ip, 0, 0);
	if (ret) {
		pr_err("ftrace_set_filter_ip(submit_bio_noacct) failed: %d\n", ret);
		return ret;
	}
	ret = register_ftrace_function(&cbt_ftrace_ops);
	if (ret) {
		pr_err("register_ftrace_function failed: %d\n", ret);
		ftrace_set_filter_ip(&cbt_ftrace_ops, target_ip, 1, 0);
		return ret;
	}
	return 0;
}

void cbt_hook_remove(void)
{
	unregister_ftrace_function(&cbt_ftrace_ops);
	ftrace_set_filter_ip(&cbt_ftrace_ops, target_ip, 1, 0);
	/* A task may still be inside the wrapper (submit_bio_noacct can sleep for a tag). */
	while (atomic_read(&inside))
		msleep(1);
	synchronize_rcu();
}
