// SPDX-License-Identifier: GPL-2.0
/*
 * cbtrep-bench-writer: O_DIRECT write load for the tracking benchmark (runs in the guest).
 *   cbtrep-bench-writer DEV rand4k|seq1m SECONDS
 * Prints one line: "ops N iops X mibps Y p50_us A p99_us B".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s DEV rand4k|seq1m SECONDS\n", argv[0]);
        return 2;
    }
    int fd = open(argv[1], O_RDWR | O_DIRECT);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    uint64_t size;
    if (ioctl(fd, BLKGETSIZE64, &size)) {
        perror("BLKGETSIZE64");
        return 1;
    }
    int seq = !strcmp(argv[2], "seq1m");
    size_t bs = seq ? 1 << 20 : 4096;
    double secs = atof(argv[3]);
    uint8_t *buf;
    if (posix_memalign((void **)&buf, 4096, bs))
        return 1;
    for (size_t i = 0; i < bs; i++)
        buf[i] = (uint8_t)(i * 31 + 7);
    size_t cap = 4 << 20, n = 0;
    float *lat = malloc(cap * sizeof(float));
    uint64_t x = 88172645463325252ull, off = 0, blocks = size / bs;
    double start = now(), t;
    while ((t = now()) - start < secs && n < cap) {
        if (seq) {
            off = (off + 1) % blocks;
        } else {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            off = x % blocks;
        }
        if (pwrite(fd, buf, bs, (off_t)(off * bs)) != (ssize_t)bs) {
            perror("pwrite");
            return 1;
        }
        lat[n++] = (float)((now() - t) * 1e6);
    }
    double el = now() - start;
    qsort(lat, n, sizeof(float), cmp);
    printf("ops %zu iops %.0f mibps %.1f p50_us %.1f p99_us %.1f\n", n, n / el,
           n * (double)bs / el / (1 << 20), n ? lat[n / 2] : 0, n ? lat[n * 99 / 100] : 0);
    return 0;
}
