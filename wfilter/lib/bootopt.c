// SPDX-License-Identifier: GPL-2.0
/* Boot option word lookup (see bootopt.h). */
#include "bootopt.h"

static int is_delim(uint16_t c)
{
	return c == 0 || c == ' ' || c == '\t' || c == '/';
}

static uint16_t fold(uint16_t c)
{
	return (c >= 'a' && c <= 'z') ? (uint16_t)(c - 'a' + 'A') : c;
}

int cbt_bootopt_has(const uint16_t *opts, size_t units, const char *word)
{
	size_t i = 0, wl = 0;

	while (word[wl])
		wl++;
	if (!opts || !wl)
		return 0;
	while (i < units) {
		size_t start, j;

		while (i < units && is_delim(opts[i]))
			i++;
		start = i;
		while (i < units && !is_delim(opts[i]))
			i++;
		if (i - start != wl)
			continue;
		for (j = 0; j < wl; j++)
			if (fold(opts[start + j]) != fold((uint8_t)word[j]))
				break;
		if (j == wl)
			return 1;
	}
	return 0;
}
