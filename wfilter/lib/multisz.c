// SPDX-License-Identifier: GPL-2.0
/* REG_MULTI_SZ editing (see multisz.h). */
#include "multisz.h"

static uint16_t fold(uint16_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint16_t)(c - 'A' + 'a') : c;
}

static size_t cstr_len(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static int entry_is(const uint16_t *e, size_t n, const char *name)
{
	size_t i, len = cstr_len(name);

	if (n != len)
		return 0;
	for (i = 0; i < n; i++)
		if (fold(e[i]) != fold((uint8_t)name[i]))
			return 0;
	return 1;
}

/*
 * Iterates over non-empty entries. *pos is the cursor; returns the entry start and its
 * length in *n, or NULL at the end of the buffer.
 */
static const uint16_t *next_entry(const uint16_t *in, size_t units, size_t *pos, size_t *n)
{
	while (*pos < units) {
		size_t start = *pos, end = start;

		while (end < units && in[end])
			end++;
		*pos = end + 1;
		if (end > start) {
			*n = end - start;
			return in + start;
		}
	}
	return NULL;
}

int cbt_multisz_find(const uint16_t *in, size_t in_units, const char *name)
{
	size_t pos = 0, n;
	const uint16_t *e;
	int idx = 0;

	while ((e = next_entry(in, in_units, &pos, &n))) {
		if (entry_is(e, n, name))
			return idx;
		idx++;
	}
	return -1;
}

int cbt_multisz_count(const uint16_t *in, size_t in_units)
{
	size_t pos = 0, n;
	int count = 0;

	while (next_entry(in, in_units, &pos, &n))
		count++;
	return count;
}

static int put(uint16_t *out, size_t cap, size_t *w, uint16_t c)
{
	if (*w >= cap)
		return 0;
	out[(*w)++] = c;
	return 1;
}

static size_t copy_without(const uint16_t *in, size_t in_units, const char *name, uint16_t *out,
			   size_t cap, size_t w)
{
	size_t pos = 0, n, i;
	const uint16_t *e;

	while ((e = next_entry(in, in_units, &pos, &n))) {
		if (entry_is(e, n, name))
			continue;
		for (i = 0; i < n; i++)
			if (!put(out, cap, &w, e[i]))
				return 0;
		if (!put(out, cap, &w, 0))
			return 0;
	}
	if (w == 0 && !put(out, cap, &w, 0)) /* empty list: "\0\0" */
		return 0;
	if (!put(out, cap, &w, 0))
		return 0;
	return w;
}

size_t cbt_multisz_remove(const uint16_t *in, size_t in_units, const char *name, uint16_t *out,
			  size_t out_cap)
{
	return copy_without(in, in_units, name, out, out_cap, 0);
}

size_t cbt_multisz_prepend(const uint16_t *in, size_t in_units, const char *name, uint16_t *out,
			   size_t out_cap)
{
	size_t w = 0, i, len = cstr_len(name);

	if (!len)
		return 0;
	for (i = 0; i < len; i++)
		if (!put(out, out_cap, &w, (uint8_t)name[i]))
			return 0;
	if (!put(out, out_cap, &w, 0))
		return 0;
	return copy_without(in, in_units, name, out, out_cap, w);
}

size_t cbt_multisz_prepend_cap(size_t in_units, const char *name)
{
	return in_units + cstr_len(name) + 3;
}
