// SPDX-License-Identifier: GPL-2.0
/*
 * cbtrep-bench-drain: the journal consumer of the tracking benchmark (runs in the guest).
 *   cbtrep-bench-drain NAME STOPFILE [MAX_RECORDS]
 * Loops WAIT -> GET -> check -> COMMIT until STOPFILE exists and nothing is left, then
 * prints "drain batches N records R bytes B bad 0".
 *
 * It does what a real consumer must (every batch and record CRC is checked, with the
 * engine's SSE4.2 CRC32C) and nothing the benchmark does not need (no stream file): one
 * process for the whole run, WAIT instead of polling, and batches of at most MAX_RECORDS
 * (default 256): GET and COMMIT walk the batch under the tracker's lock, which every
 * write also takes, so a batch of thousands of records stalls the writers (under TCG a
 * vCPU preempted while holding it stalls them for a host time slice). `cbtrep-ctl drain`
 * in a shell loop (a process, a table CRC and a file write per pass, 50 ms sleeps) could
 * not keep up with DATA mode under TCG.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cbtrep/ioctl.h>
#include <cbtrep/record.h>

#define BUF_LEN (32u << 20)

static void set_name(char *dst, const char *src)
{
    memset(dst, 0, CBT_NAME_LEN);
    strncpy(dst, src, CBT_NAME_LEN - 1);
}

int main(int argc, char **argv)
{
    uint64_t batches = 0, records = 0, bytes = 0, bad = 0;
    uint8_t *buf;
    uint32_t max;
    int fd;

    if (argc < 3) {
        fprintf(stderr, "usage: %s NAME STOPFILE [MAX_RECORDS]\n", argv[0]);
        return 2;
    }
    max = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 0) : 256;
    fd = open(CBT_CTL_DEVICE_LINUX, O_RDWR);
    buf = malloc(BUF_LEN);
    if (fd < 0 || !buf) {
        perror(CBT_CTL_DEVICE_LINUX);
        return 1;
    }
    for (;;) {
        struct cbt_ioc_get g;
        struct cbt_ioc_commit c;
        uint64_t len = 0;

        memset(&g, 0, sizeof(g));
        g.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_get);
        set_name(g.name, argv[1]);
        g.buf = (uintptr_t)buf;
        g.buf_len = BUF_LEN;
        g.max_records = max;
        if (ioctl(fd, CBT_IOC_GET, &g)) {
            struct cbt_ioc_wait w;

            if (errno != EAGAIN) {
                perror("get");
                return 1;
            }
            if (access(argv[2], F_OK) == 0)
                break;
            memset(&w, 0, sizeof(w));
            w.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_wait);
            set_name(w.name, argv[1]);
            w.timeout_ms = 20;
            if (ioctl(fd, CBT_IOC_WAIT, &w) && errno != ETIMEDOUT && errno != EAGAIN &&
                errno != EINTR) {
                perror("wait");
                return 1;
            }
            continue;
        }
        if (cbt_batch_check(buf, g.bytes_needed, 0, &len))
            bad++;
        memset(&c, 0, sizeof(c));
        c.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_commit);
        set_name(c.name, argv[1]);
        c.batch_id = g.batch.batch_id;
        if (ioctl(fd, CBT_IOC_COMMIT, &c)) {
            perror("commit");
            return 1;
        }
        batches++;
        records += g.batch.nr_records;
        bytes += g.bytes_needed;
    }
    printf("drain batches %" PRIu64 " records %" PRIu64 " bytes %" PRIu64 " bad %" PRIu64 "\n",
           batches, records, bytes, bad);
    return bad != 0;
}
