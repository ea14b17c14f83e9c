// SPDX-License-Identifier: GPL-2.0
/* ATTACH metadata path -> NT path (see ntpath.h). */
#include "ntpath.h"

static int starts(const char *s, const char *p)
{
	while (*p)
		if (*s++ != *p++)
			return 0;
	return 1;
}

static int has_dotdot(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if ((i == 0 || s[i - 1] == '\\' || s[i - 1] == '/') && s[i] == '.' &&
		    s[i + 1] == '.' && (!s[i + 2] || s[i + 2] == '\\' || s[i + 2] == '/'))
			return 1;
	return 0;
}

size_t cbt_meta_nt_path(const char *in, size_t in_cap, uint16_t *out, size_t cap)
{
	static const char prefix[] = "\\??\\";
	size_t n = 0, i, len = 0;
	int drive;

	if (!in || !out)
		return 0;
	while (len < in_cap && in[len])
		len++;
	if (!len || len == in_cap) /* empty or not terminated */
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)in[i] < 0x20 || (unsigned char)in[i] > 0x7e)
			return 0;
	if (has_dotdot(in))
		return 0;
	drive = ((in[0] | 0x20) >= 'a' && (in[0] | 0x20) <= 'z') && in[1] == ':' &&
		(in[2] == '\\' || in[2] == '/');
	if (!drive && !starts(in, "\\??\\") && !starts(in, "\\Device\\"))
		return 0;
	if (drive)
		for (i = 0; prefix[i]; i++) {
			if (n + 1 >= cap)
				return 0;
			out[n++] = (uint16_t)prefix[i];
		}
	for (i = 0; i < len; i++) {
		if (n + 1 >= cap)
			return 0;
		out[n++] = (uint16_t)(in[i] == '/' ? '\\' : in[i]);
	}
	out[n] = 0;
	return n;
}
