// SPDX-License-Identifier: GPL-2.0
/*
 * cbtrep-gt-writer: the ground-truth writer of the kernel tests. Makes random writes of
 * every kind the tracker must see and logs each one as "sector nr_sectors" (device-
 * relative 512-byte sectors) so check-cover can prove nothing was missed:
 *   - raw writes to DEV inside [FIRST, end of device) (the part no filesystem uses):
 *     O_DIRECT, buffered + fdatasync with 512-byte alignment only, BLKDISCARD,
 *     BLKZEROOUT, and the very last sector of the device;
 *   - with --file PATH MIB: writes into a file on a mounted filesystem on DEV, mapped to
 *     device sectors with FIEMAP (O_DIRECT and buffered + fsync).
 * usage: cbtrep-gt-writer DEV LOG FIRST_SECTOR COUNT SEED [--file PATH MIB]
 *                         [--max-kib N] [--no-discard]
 * --no-discard turns discards into write-zeroes: a discarded range's content is undefined
 * (brd keeps partial pages), so an exact replay comparison cannot include them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static uint64_t rng_state;
static uint64_t rnd(uint64_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return n ? rng_state % n : 0;
}

static void die(const char *what)
{
    fprintf(stderr, "cbtrep-gt-writer: %s: %s\n", what, strerror(errno));
    exit(1);
}

static FILE *logf_;
static void log_range(uint64_t sector, uint64_t nr)
{
    fprintf(logf_, "%" PRIu64 " %" PRIu64 "\n", sector, nr);
}

/* A file's extents: logical -> physical, from FIEMAP (the file is fully written first). */
struct ext {
    uint64_t logical, physical, len;
};
static struct ext *exts;
static unsigned nexts;

static void map_file(int fd)
{
    size_t sz = sizeof(struct fiemap) + 4096 * sizeof(struct fiemap_extent);
    struct fiemap *fm = calloc(1, sz);
    fm->fm_length = ~0ull;
    fm->fm_flags = FIEMAP_FLAG_SYNC;
    fm->fm_extent_count = 4096;
    if (ioctl(fd, FS_IOC_FIEMAP, fm))
        die("FIEMAP");
    exts = calloc(fm->fm_mapped_extents, sizeof(*exts));
    for (unsigned i = 0; i < fm->fm_mapped_extents; i++) {
        exts[i].logical = fm->fm_extents[i].fe_logical;
        exts[i].physical = fm->fm_extents[i].fe_physical;
        exts[i].len = fm->fm_extents[i].fe_length;
    }
    nexts = fm->fm_mapped_extents;
    free(fm);
}

/* Logs the device sectors behind file bytes [off, off + len). */
static void log_file_range(uint64_t off, uint64_t len)
{
    for (unsigned i = 0; i < nexts; i++) {
        uint64_t lo = off > exts[i].logical ? off : exts[i].logical;
        uint64_t hi =
            off + len < exts[i].logical + exts[i].len ? off + len : exts[i].logical + exts[i].len;
        if (lo >= hi)
            continue;
        uint64_t p = exts[i].physical + (lo - exts[i].logical);
        uint64_t s = p / 512, e = (p + (hi - lo) + 511) / 512;
        log_range(s, e - s);
    }
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr,
                "usage: %s DEV LOG FIRST_SECTOR COUNT SEED [--file PATH MIB] "
                "[--max-kib N]\n",
                argv[0]);
        return 2;
    }
    const char *dev = argv[1];
    uint64_t first = strtoull(argv[3], NULL, 0);
    long count = strtol(argv[4], NULL, 0);
    rng_state = strtoull(argv[5], NULL, 0) * 2654435761u + 1;
    const char *fpath = NULL;
    uint64_t fbytes = 0, max_bytes = 1 << 20;
    int no_discard = 0;
    for (int i = 6; i < argc; i++) {
        if (!strcmp(argv[i], "--file") && i + 2 < argc) {
            fpath = argv[++i];
            fbytes = strtoull(argv[++i], NULL, 0) << 20;
        } else if (!strcmp(argv[i], "--max-kib") && i + 1 < argc) {
            max_bytes = strtoull(argv[++i], NULL, 0) << 10;
        } else if (!strcmp(argv[i], "--no-discard")) {
            no_discard = 1;
        }
    }
    logf_ = fopen(argv[2], "w");
    if (!logf_)
        die(argv[2]);
    int dfd = open(dev, O_RDWR | O_DIRECT);
    int bfd = open(dev, O_RDWR);
    if (dfd < 0 || bfd < 0)
        die(dev);
    uint64_t dev_bytes;
    if (ioctl(bfd, BLKGETSIZE64, &dev_bytes))
        die("BLKGETSIZE64");
    uint64_t dev_sectors = dev_bytes / 512;
    if (first >= dev_sectors) {
        fprintf(stderr, "first sector beyond the device\n");
        return 2;
    }
    uint64_t region = dev_sectors - first;
    uint8_t *buf;
    if (posix_memalign((void **)&buf, 4096, max_bytes + 4096))
        die("memalign");

    int ffd = -1, fdfd = -1;
    if (fpath) {
        ffd = open(fpath, O_RDWR | O_CREAT, 0644);
        if (ffd < 0)
            die(fpath);
        memset(buf, 0x5a, 1 << 20 > max_bytes ? max_bytes : 1 << 20);
        uint64_t chunk = 1 << 20 > max_bytes ? max_bytes : 1 << 20;
        for (uint64_t o = 0; o < fbytes; o += chunk)
            if (pwrite(ffd, buf, chunk, (off_t)o) != (ssize_t)chunk)
                die("filling the file");
        if (fsync(ffd))
            die("fsync");
        map_file(ffd);
        log_file_range(0, fbytes);
        fdfd = open(fpath, O_RDWR | O_DIRECT);
        if (fdfd < 0)
            die(fpath);
    }

    long done = 0, discards = 0, zeroes = 0, skipped_discard = 0;
    while (done < count) {
        uint64_t kind = rnd(100);
        uint64_t nr = rnd(50) == 0 ? 1 + rnd(max_bytes / 512) : 1 + rnd(32);
        for (uint64_t i = 0; i < nr * 512; i += 8)
            *(uint64_t *)(buf + i) = rng_state + i;
        if (kind < 8 && fpath) {
            /* file writes: O_DIRECT 4 KiB-aligned or buffered at 512-byte offsets */
            uint64_t off, len;
            if (kind < 4) {
                len = ((nr * 512 + 4095) / 4096) * 4096;
                if (len > fbytes)
                    len = 4096;
                off = rnd((fbytes - len) / 4096 + 1) * 4096;
                if (pwrite(fdfd, buf, len, (off_t)off) != (ssize_t)len)
                    die("file O_DIRECT write");
            } else {
                len = nr * 512;
                if (len > fbytes)
                    len = 512;
                off = rnd((fbytes - len) / 512 + 1) * 512;
                if (pwrite(ffd, buf, len, (off_t)off) != (ssize_t)len || fsync(ffd))
                    die("file buffered write");
            }
            log_file_range(off, len);
            done++;
            continue;
        }
        if (nr > region)
            nr = region;
        uint64_t s = first + rnd(region - nr + 1);
        if (kind < 12)
            s = dev_sectors - nr; /* up to the very last sector */
        if (kind < 45) {
            if (pwrite(dfd, buf, nr * 512, (off_t)(s * 512)) != (ssize_t)(nr * 512))
                die("O_DIRECT write");
        } else if (kind < 75) {
            if (pwrite(bfd, buf, nr * 512, (off_t)(s * 512)) != (ssize_t)(nr * 512) ||
                fdatasync(bfd))
                die("buffered write");
        } else if (kind < 88 && !no_discard) {
            uint64_t r[2] = {s * 512, nr * 512};
            if (ioctl(bfd, BLKDISCARD, r)) {
                if (errno != EOPNOTSUPP)
                    die("BLKDISCARD");
                skipped_discard++;
                continue;
            }
            discards++;
        } else {
            uint64_t r[2] = {s * 512, nr * 512};
            if (ioctl(bfd, BLKZEROOUT, r))
                die("BLKZEROOUT");
            zeroes++;
        }
        log_range(s, nr);
        done++;
    }
    /* The last sector, alone, once more (unaligned 512 B at the very end). */
    if (pwrite(bfd, buf, 512, (off_t)(dev_bytes - 512)) != 512 || fdatasync(bfd))
        die("last sector");
    log_range(dev_sectors - 1, 1);
    if (fpath && (fsync(ffd) || close(ffd) || close(fdfd)))
        die("closing the file");
    fclose(logf_);
    printf("gt-writer: %ld writes (%ld discards, %ld write-zeroes, %ld discards unsupported)\n",
           done + 1, discards, zeroes, skipped_discard);
    return 0;
}
