/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The write interception method, behind one small interface so another (a fops swap)
 * can be added: install calls cbt_hook_bio() for every bio entering the block layer
 * before it goes on; remove undoes that and waits until no task is inside the hook.
 */
#ifndef CBTREP_HOOK_H
#define CBTREP_HOOK_H

struct bio;

int cbt_hook_install(void);
void cbt_hook_remove(void);

/* Implemented by dev.c: called for every submitted bio, in the submitter's context. */
void cbt_hook_bio(struct bio *bio);

#endif
