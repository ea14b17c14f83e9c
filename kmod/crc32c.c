// SPDX-License-Identifier: GPL-2.0
/*
 * cbt_crc32c_extern() for the module (include/cbtrep/crc32c.h, CBT_CRC32C_EXTERN from
 * Kbuild): the SSE4.2 crc32 instruction, 8 bytes a step, where the CPU has it; else the
 * portable table. GET seals every DATA record with a CRC over its 4 KiB, on one of the
 * CPUs the writers use, so the byte-wise table was most of what the drain cost. The
 * instruction works on general registers: no FPU state to save. The kernel's own crc32c()
 * is not used because on 6.1 it lives in libcrc32c, a module the harness (insmod) and
 * some systems would have to load first.
 */
#include <linux/types.h>
#include <linux/string.h>
#ifdef CONFIG_X86_64
#include <asm/cpufeature.h>
#endif

#include <cbtrep/crc32c.h>

#ifdef CONFIG_X86_64
static u32 crc32c_sse42(u32 crc, const u8 *p, size_t len)
{
	u64 c = (u32)~crc;

	while (len && ((unsigned long)p & 7)) {
		asm("crc32b %1, %k0" : "+r"(c) : "rm"(*p));
		p++;
		len--;
	}
	while (len >= 8) {
		u64 w;

		memcpy(&w, p, 8);
		asm("crc32q %1, %0" : "+r"(c) : "rm"(w));
		p += 8;
		len -= 8;
	}
	while (len--) {
		asm("crc32b %1, %k0" : "+r"(c) : "rm"(*p));
		p++;
	}
	return ~(u32)c;
}
#endif

uint32_t cbt_crc32c_extern(uint32_t crc, const void *buf, size_t len)
{
#ifdef CONFIG_X86_64
	if (boot_cpu_has(X86_FEATURE_XMM4_2))
		return crc32c_sse42(crc, buf, len);
#endif
	return cbt_crc32c_sw(crc, buf, len);
}
