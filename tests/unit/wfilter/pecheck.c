// SPDX-License-Identifier: GPL-2.0
/*
 * pecheck: the PE properties of cbtrep.sys that objdump does not print plainly.
 *
 *   pecheck checksum FILE   the OptionalHeader.CheckSum equals the PE checksum of the file
 *                           (Windows refuses boot drivers whose checksum is wrong)
 *   pecheck wx FILE         no section is both writable and executable
 *
 * Exit 0 when the property holds, 1 when it does not, 2 when the file is not a PE image.
 * Written from the PE/COFF specification; reads the file into memory, little-endian host.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCN_MEM_EXECUTE 0x20000000u
#define SCN_MEM_WRITE 0x80000000u

static uint16_t ld16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)ld16(p) | (uint32_t)ld16(p + 2) << 16;
}

struct pe {
    uint8_t *buf;
    size_t len;
    size_t opt;      /* offset of the optional header */
    size_t sections; /* offset of the section table */
    unsigned int nsec;
};

static int load(const char *path, struct pe *pe)
{
    FILE *f = fopen(path, "rb");
    long n;
    size_t nt;

    if (!f) {
        perror(path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    pe->buf = malloc(n > 0 ? (size_t)n : 1);
    pe->len = n > 0 ? (size_t)n : 0;
    if (!pe->buf || fread(pe->buf, 1, pe->len, f) != pe->len) {
        fclose(f);
        return -1;
    }
    fclose(f);
    if (pe->len < 0x40 || pe->buf[0] != 'M' || pe->buf[1] != 'Z')
        return -1;
    nt = ld32(pe->buf + 0x3c);
    if (nt > pe->len - 24 || memcmp(pe->buf + nt, "PE\0\0", 4))
        return -1;
    pe->nsec = ld16(pe->buf + nt + 6);
    pe->opt = nt + 24;
    pe->sections = pe->opt + ld16(pe->buf + nt + 20);
    if (pe->opt + 96 > pe->len || pe->sections + 40ull * pe->nsec > pe->len)
        return -1;
    return 0;
}

/* The PE checksum: 16-bit one's-complement-style sum of the file with the CheckSum field
 * taken as zero, folded, plus the file length. */
static uint32_t pe_checksum(const struct pe *pe)
{
    size_t ck = pe->opt + 64, i;
    uint64_t sum = 0;

    for (i = 0; i < pe->len; i += 2) {
        uint32_t w;

        if (i >= ck && i < ck + 4)
            continue;
        w = pe->buf[i] | (i + 1 < pe->len ? pe->buf[i + 1] << 8 : 0);
        sum += w;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint32_t)(sum + pe->len);
}

int main(int argc, char **argv)
{
    struct pe pe = {0};
    unsigned int i;
    int bad = 0;

    if (argc != 3) {
        fprintf(stderr, "usage: pecheck checksum|wx FILE\n");
        return 2;
    }
    if (load(argv[2], &pe)) {
        fprintf(stderr, "%s: not a PE image\n", argv[2]);
        return 2;
    }
    if (!strcmp(argv[1], "checksum")) {
        uint32_t have = ld32(pe.buf + pe.opt + 64), want = pe_checksum(&pe);

        printf("CheckSum field 0x%08x, computed 0x%08x\n", have, want);
        return have == want ? 0 : 1;
    }
    if (!strcmp(argv[1], "wx")) {
        for (i = 0; i < pe.nsec; i++) {
            const uint8_t *s = pe.buf + pe.sections + 40u * i;
            uint32_t ch = ld32(s + 36);

            printf("%-8.8s 0x%08x%s\n", (const char *)s, ch,
                   (ch & SCN_MEM_EXECUTE) && (ch & SCN_MEM_WRITE) ? "  WRITABLE+EXECUTABLE" : "");
            if ((ch & SCN_MEM_EXECUTE) && (ch & SCN_MEM_WRITE))
                bad = 1;
        }
        return bad;
    }
    fprintf(stderr, "unknown check %s\n", argv[1]);
    return 2;
}
