// SPDX-License-Identifier: GPL-2.0
/*
 * cbtrep-ctl: the small command-line driver of /dev/cbtrep-ctl (include/cbtrep/ioctl.h).
 * Exit status: 0 ok, 2 usage, otherwise the errno of the failing ioctl (so scripts can
 * check ENOSPC, ESTALE, ...), or 1 for other failures (files, checks).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <cbtrep/ioctl.h>
#include <cbtrep/record.h>
#include <cbtrep/bitmap.h>

static const char *prog = "cbtrep-ctl";

static void usage(void)
{
    fprintf(stderr,
            "usage: %s COMMAND ...\n"
            "  version\n"
            "  attach NAME DEVICE [--meta PATH] [--cap BYTES] [--granularity BYTES]\n"
            "         [--meta-only] [--no-freeze]\n"
            "  detach NAME [--discard]\n"
            "  status NAME [--json]\n"
            "  list\n"
            "  wait NAME [TIMEOUT_MS]\n"
            "  tag TAG_NAME [--app] DEVICE_NAME...\n"
            "  mark-dirty NAME SECTOR NR_SECTORS\n"
            "  cut NAME [DONE_GENERATION]\n"
            "  resync-require NAME REASON                     REASON: number or e.g. spool-limit\n"
            "  resync-done NAME GENERATION                    a resync after that cut ended\n"
            "  resync NAME OP REASON GENERATION               the raw request (tests)\n"
            "  get NAME STREAM_FILE [MAX_RECORDS [BUF_LEN]]   append one batch, no commit\n"
            "  commit NAME BATCH_ID\n"
            "  drain NAME STREAM_FILE [MAX_RECORDS]          get/append/commit until empty\n"
            "  bitmap NAME FILE                               dump the frozen bitmap\n"
            "  check-cover LOG STREAM BITMAP [--exclusive FIRST_SECTOR]\n"
            "  replay STREAM DEVICE_OR_FILE\n"
            "  dump STREAM                                    one line per record\n"
            "  bad-input                                      probe the module with bad requests\n",
            prog);
    exit(2);
}

static int ctl_fd(void)
{
    int fd = open(CBT_CTL_DEVICE_LINUX, O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        fprintf(stderr, "%s: open %s: %s\n", prog, CBT_CTL_DEVICE_LINUX, strerror(errno));
        exit(1);
    }
    return fd;
}

/* Runs an ioctl; on failure prints what failed and returns errno. */
static int xioctl(int fd, unsigned long req, void *arg, const char *what)
{
    if (ioctl(fd, req, arg) == 0)
        return 0;
    int e = errno;
    fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(e));
    return e;
}

static void set_name(char *dst, size_t len, const char *src)
{
    if (strlen(src) >= len) {
        fprintf(stderr, "%s: name too long: %s\n", prog, src);
        exit(2);
    }
    memset(dst, 0, len);
    memcpy(dst, src, strlen(src));
}

static uint64_t num(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end) {
        fprintf(stderr, "%s: not a number: %s\n", prog, s);
        exit(2);
    }
    return v;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int get_status(int fd, const char *name, struct cbt_ioc_status *st)
{
    memset(st, 0, sizeof(*st));
    st->hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_status);
    set_name(st->name, sizeof(st->name), name);
    return xioctl(fd, CBT_IOC_STATUS, st, "status");
}

static int cmd_version(void)
{
    int fd = ctl_fd();
    struct cbt_ioc_version v = {.hdr = CBT_IOC_HDR_INIT(struct cbt_ioc_version)};
    int e = xioctl(fd, CBT_IOC_VERSION, &v, "version");
    if (!e)
        printf("abi %u features 0x%x module %s\n", v.abi_version, v.features, v.module_version);
    return e;
}

static int cmd_attach(int argc, char **argv)
{
    struct cbt_ioc_attach a;
    struct stat sb;
    int i;

    if (argc < 2)
        usage();
    memset(&a, 0, sizeof(a));
    a.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_attach);
    set_name(a.name, sizeof(a.name), argv[0]);
    if (stat(argv[1], &sb) == 0 && S_ISBLK(sb.st_mode))
        a.dev = (minor(sb.st_rdev) & 0xff) | (major(sb.st_rdev) << 8) |
                ((uint64_t)(minor(sb.st_rdev) & ~0xffu) << 12); /* new_encode_dev */
    else
        set_name(a.dev_path, sizeof(a.dev_path), argv[1]);
    for (i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--meta") && i + 1 < argc)
            set_name(a.meta_path, sizeof(a.meta_path), argv[++i]);
        else if (!strcmp(argv[i], "--cap") && i + 1 < argc)
            a.mem_cap_bytes = num(argv[++i]);
        else if (!strcmp(argv[i], "--granularity") && i + 1 < argc)
            a.granularity = (uint32_t)num(argv[++i]);
        else if (!strcmp(argv[i], "--meta-only"))
            a.flags |= CBT_ATTACH_META_ONLY;
        else if (!strcmp(argv[i], "--no-freeze"))
            a.flags |= CBT_ATTACH_NO_FREEZE;
        else if (!strcmp(argv[i], "--dev-path")) /* force path lookup in the kernel */
            set_name(a.dev_path, sizeof(a.dev_path), argv[1]), a.dev = 0;
        else
            usage();
    }
    int fd = ctl_fd();
    int e = xioctl(fd, CBT_IOC_ATTACH, &a, "attach");
    if (!e)
        printf("attached %s: %" PRIu64 " bytes, granularity %u, generation %" PRIu64
               ", found %s (%s)\n",
               a.name, a.device_bytes, a.granularity, a.generation, cbt_state_str(a.state),
               cbt_reason_str(a.reason));
    return e;
}

static int cmd_detach(int argc, char **argv)
{
    struct cbt_ioc_detach d;

    if (argc < 1)
        usage();
    memset(&d, 0, sizeof(d));
    d.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_detach);
    set_name(d.name, sizeof(d.name), argv[0]);
    if (argc > 1 && !strcmp(argv[1], "--discard"))
        d.flags = CBT_DETACH_DISCARD;
    return xioctl(ctl_fd(), CBT_IOC_DETACH, &d, "detach");
}

static int cmd_status(int argc, char **argv)
{
    struct cbt_ioc_status s;

    if (argc < 1)
        usage();
    int e = get_status(ctl_fd(), argv[0], &s);
    if (e)
        return e;
    if (argc > 1 && !strcmp(argv[1], "--json")) {
        printf("{\"name\":\"%s\",\"mode\":\"%s\",\"mode_reason\":\"%s\",\"state\":\"%s\","
               "\"state_reason\":\"%s\",\"device_bytes\":%" PRIu64 ",\"granularity\":%u,"
               "\"generation\":%" PRIu64 ",\"frozen_generation\":%" PRIu64
               ",\"writes_seen\":%" PRIu64 ",\"bytes_seen\":%" PRIu64 ",\"writes_failed\":%" PRIu64
               ",\"records\":%" PRIu64 ",\"records_pending\":%" PRIu64
               ",\"records_dropped\":%" PRIu64 ",\"next_seq\":%" PRIu64
               ",\"committed_seq\":%" PRIu64 ",\"mem_used\":%" PRIu64 ",\"mem_cap\":%" PRIu64
               ",\"bitmap_mem\":%" PRIu64 ",\"dirty_bits\":%" PRIu64 ",\"mode_changes\":%" PRIu64
               ",\"hook_calls\":%" PRIu64 ",\"hook_ns\":%" PRIu64 "}\n",
               argv[0], cbt_mode_str(s.mode), cbt_reason_str(s.mode_reason), cbt_state_str(s.state),
               cbt_reason_str(s.state_reason), s.device_bytes, s.granularity, s.generation,
               s.frozen_generation, s.writes_seen, s.bytes_seen, s.writes_failed, s.records,
               s.records_pending, s.records_dropped, s.next_seq, s.committed_seq, s.mem_used,
               s.mem_cap, s.bitmap_mem, s.dirty_bits, s.mode_changes, s.hook_calls, s.hook_ns);
        return 0;
    }
    printf("%s: mode %s (%s), state %s (%s)\n", argv[0], cbt_mode_str(s.mode),
           cbt_reason_str(s.mode_reason), cbt_state_str(s.state), cbt_reason_str(s.state_reason));
    printf("  device %" PRIu64 " bytes, granularity %u, generation %" PRIu64 " (frozen %" PRIu64
           ")\n",
           s.device_bytes, s.granularity, s.generation, s.frozen_generation);
    printf("  writes %" PRIu64 " (%" PRIu64 " bytes, %" PRIu64 " failed), records %" PRIu64
           " (pending %" PRIu64 ", dropped %" PRIu64 "), next seq %" PRIu64 ", committed %" PRIu64
           "\n",
           s.writes_seen, s.bytes_seen, s.writes_failed, s.records, s.records_pending,
           s.records_dropped, s.next_seq, s.committed_seq);
    printf("  memory %" PRIu64 " of %" PRIu64 ", bitmap %" PRIu64 " bytes, %" PRIu64
           " dirty bits, %" PRIu64 " mode changes, hook %" PRIu64 " calls %" PRIu64 " ns\n",
           s.mem_used, s.mem_cap, s.bitmap_mem, s.dirty_bits, s.mode_changes, s.hook_calls,
           s.hook_ns);
    return 0;
}

static int cmd_list(void)
{
    char names[64][CBT_NAME_LEN];
    struct cbt_ioc_list l = {.hdr = CBT_IOC_HDR_INIT(struct cbt_ioc_list)};
    l.buf = (uintptr_t)names;
    l.max = 64;
    int e = xioctl(ctl_fd(), CBT_IOC_LIST, &l, "list");
    for (uint32_t i = 0; !e && i < l.count && i < l.max; i++)
        printf("%s\n", names[i]);
    return e;
}

static int cmd_wait(int argc, char **argv)
{
    struct cbt_ioc_wait w;
    if (argc < 1)
        usage();
    memset(&w, 0, sizeof(w));
    w.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_wait);
    set_name(w.name, sizeof(w.name), argv[0]);
    w.timeout_ms = argc > 1 ? (uint32_t)num(argv[1]) : 1000;
    int e = xioctl(ctl_fd(), CBT_IOC_WAIT, &w, "wait");
    if (!e)
        printf("ready 0x%x\n", w.ready);
    return e;
}

static int cmd_tag(int argc, char **argv)
{
    struct cbt_ioc_tag t;
    int i, first = 1;

    if (argc < 2)
        usage();
    memset(&t, 0, sizeof(t));
    t.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_tag);
    set_name(t.tag_name, sizeof(t.tag_name), argv[0]);
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--app")) {
            t.flags |= CBT_TAG_APP_CONSISTENT;
            continue;
        }
        if (t.nr_devices == CBT_TAG_MAX_DEVICES)
            usage();
        set_name(t.devices[t.nr_devices++], CBT_NAME_LEN, argv[i]);
    }
    int e = xioctl(ctl_fd(), CBT_IOC_TAG, &t, "tag");
    if (e)
        return e;
    printf("tag %" PRIu64 ":", t.tag_id);
    for (uint32_t k = 0; k < t.nr_devices; k++, first = 0)
        printf("%s %s=%" PRIu64, first ? "" : ",", t.devices[k], t.seqs[k]);
    printf("\n");
    return 0;
}

static int cmd_mark_dirty(int argc, char **argv)
{
    struct cbt_ioc_mark_dirty m;
    if (argc < 3)
        usage();
    memset(&m, 0, sizeof(m));
    m.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_mark_dirty);
    set_name(m.name, sizeof(m.name), argv[0]);
    m.sector = num(argv[1]);
    m.nr_sectors = num(argv[2]);
    return xioctl(ctl_fd(), CBT_IOC_MARK_DIRTY, &m, "mark-dirty");
}

static int cmd_cut(int argc, char **argv)
{
    struct cbt_ioc_cut c;
    if (argc < 1)
        usage();
    memset(&c, 0, sizeof(c));
    c.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_cut);
    set_name(c.name, sizeof(c.name), argv[0]);
    c.done_generation = argc > 1 ? num(argv[1]) : 0;
    int e = xioctl(ctl_fd(), CBT_IOC_BITMAP_CUT, &c, "cut");
    if (!e)
        printf("generation %" PRIu64 " dirty_bits %" PRIu64 "\n", c.generation, c.dirty_bits);
    return e;
}

/* Short names of enum cbt_reason for resync-require (numbers are passed through as they
 * are, so tests can send the values the tracker must refuse). */
static const struct {
    const char *name;
    uint32_t reason;
} reason_names[] = {
    {"unclean-shutdown", CBT_REASON_UNCLEAN_SHUTDOWN},
    {"write-error", CBT_REASON_WRITE_ERROR},
    {"alloc-failed", CBT_REASON_ALLOC_FAILED},
    {"user-request", CBT_REASON_USER_REQUEST},
    {"new-device", CBT_REASON_NEW_DEVICE},
    {"size-changed", CBT_REASON_SIZE_CHANGED},
    {"spool-limit", CBT_REASON_SPOOL_LIMIT},
    {"device-removed", CBT_REASON_DEVICE_REMOVED},
    {"metadata-invalid", CBT_REASON_METADATA_INVALID},
    {"identity-changed", CBT_REASON_IDENTITY_CHANGED},
    {"untracked-window", CBT_REASON_UNTRACKED_WINDOW},
    {"bypassed", CBT_REASON_BYPASSED},
};

static uint32_t reason_arg(const char *s)
{
    for (size_t i = 0; i < sizeof(reason_names) / sizeof(reason_names[0]); i++)
        if (!strcmp(s, reason_names[i].name))
            return reason_names[i].reason;
    uint64_t v = num(s);
    if (v > UINT32_MAX) {
        fprintf(stderr, "%s: reason out of range: %s\n", prog, s);
        exit(2);
    }
    return (uint32_t)v;
}

/* RESYNC: prints the state after the call, also when DONE is refused (EAGAIN). */
static int do_resync(const char *name, uint32_t op, uint32_t reason, uint64_t generation)
{
    struct cbt_ioc_resync r;
    memset(&r, 0, sizeof(r));
    r.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_resync);
    set_name(r.name, sizeof(r.name), name);
    r.op = op;
    r.reason = reason;
    r.generation = generation;
    int e = xioctl(ctl_fd(), CBT_IOC_RESYNC, &r, "resync");
    if (!e || e == EAGAIN)
        printf("state %s (%s)\n", cbt_state_str(r.state), cbt_reason_str(r.state_reason));
    return e;
}

static int cmd_resync_require(int argc, char **argv)
{
    if (argc != 2)
        usage();
    return do_resync(argv[0], CBT_RESYNC_REQUIRE, reason_arg(argv[1]), 0);
}

static int cmd_resync_done(int argc, char **argv)
{
    if (argc != 2)
        usage();
    return do_resync(argv[0], CBT_RESYNC_DONE, 0, num(argv[1]));
}

static int cmd_resync(int argc, char **argv)
{
    if (argc != 4)
        usage();
    uint64_t op = num(argv[1]), reason = num(argv[2]);
    if (op > UINT32_MAX || reason > UINT32_MAX)
        usage();
    return do_resync(argv[0], (uint32_t)op, (uint32_t)reason, num(argv[3]));
}

/* Opens a stream file for appending, writing its header when it is new. */
static FILE *open_stream(int fd, const char *name, const char *path)
{
    struct cbt_ioc_status st;
    struct stat sb;
    FILE *f;

    if (get_status(fd, name, &st))
        exit(1);
    f = fopen(path, "ab");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        exit(1);
    }
    if (fstat(fileno(f), &sb) == 0 && sb.st_size == 0) {
        struct cbt_stream_hdr h;
        cbt_stream_hdr_init(&h, name, st.device_bytes, st.granularity, now_ns());
        if (fwrite(&h, sizeof(h), 1, f) != 1) {
            fprintf(stderr, "%s: %s: write failed\n", prog, path);
            exit(1);
        }
    }
    return f;
}

/* One GET into buf (grown on ENOSPC). Returns 0, EAGAIN, or another errno. */
static int get_batch(int fd, const char *name, uint32_t max, uint8_t **buf, uint64_t *buf_len,
                     struct cbt_ioc_get *g, int grow)
{
    for (;;) {
        memset(g, 0, sizeof(*g));
        g->hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_get);
        set_name(g->name, sizeof(g->name), name);
        g->buf = (uintptr_t)*buf;
        g->buf_len = *buf_len;
        g->max_records = max;
        if (ioctl(fd, CBT_IOC_GET, g) == 0)
            return 0;
        int e = errno;
        if (e == ENOSPC && grow && g->bytes_needed > *buf_len) {
            *buf = realloc(*buf, g->bytes_needed);
            *buf_len = g->bytes_needed;
            if (!*buf)
                exit(1);
            continue;
        }
        if (e == ENOSPC)
            fprintf(stderr, "%s: get: %s (needs %" PRIu64 " bytes)\n", prog, strerror(e),
                    g->bytes_needed);
        else if (e != EAGAIN)
            fprintf(stderr, "%s: get: %s\n", prog, strerror(e));
        return e;
    }
}

static int check_and_append(FILE *f, const uint8_t *buf, uint64_t len, uint64_t dev_sectors)
{
    uint64_t blen = 0;
    int fe = cbt_batch_check(buf, len, dev_sectors, &blen);
    if (fe) {
        fprintf(stderr, "%s: batch fails validation: %s\n", prog, cbt_fmt_err_str(fe));
        return 1;
    }
    if (fwrite(buf, blen, 1, f) != 1 || fflush(f)) {
        fprintf(stderr, "%s: writing the stream failed\n", prog);
        return 1;
    }
    return 0;
}

static int cmd_get(int argc, char **argv)
{
    struct cbt_ioc_get g;
    struct cbt_ioc_status st;
    if (argc < 2)
        usage();
    int fd = ctl_fd();
    uint32_t max = argc > 2 ? (uint32_t)num(argv[2]) : 0;
    uint64_t len = argc > 3 ? num(argv[3]) : (64u << 20);
    uint8_t *buf = malloc(len ? len : 1);
    if (get_status(fd, argv[0], &st))
        return 1;
    int e = get_batch(fd, argv[0], max, &buf, &len, &g, 0);
    if (e)
        return e;
    FILE *f = open_stream(fd, argv[0], argv[1]);
    if (check_and_append(f, buf, g.bytes_needed, st.device_bytes / 512))
        return 1;
    fclose(f);
    printf("batch %" PRIu64 " mode %s seq %" PRIu64 "..%" PRIu64 " records %u bytes %" PRIu64 "\n",
           g.batch.batch_id, cbt_mode_str(g.batch.mode), g.batch.first_seq, g.batch.last_seq,
           g.batch.nr_records, g.bytes_needed);
    free(buf);
    return 0;
}

static int cmd_commit(int argc, char **argv)
{
    struct cbt_ioc_commit c;
    if (argc < 2)
        usage();
    memset(&c, 0, sizeof(c));
    c.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_commit);
    set_name(c.name, sizeof(c.name), argv[0]);
    c.batch_id = num(argv[1]);
    return xioctl(ctl_fd(), CBT_IOC_COMMIT, &c, "commit");
}

static int cmd_drain(int argc, char **argv)
{
    struct cbt_ioc_get g;
    struct cbt_ioc_status st;
    uint64_t len = 4u << 20, batches = 0, records = 0;
    if (argc < 2)
        usage();
    int fd = ctl_fd();
    uint32_t max = argc > 2 ? (uint32_t)num(argv[2]) : 0;
    uint8_t *buf = malloc(len);
    if (get_status(fd, argv[0], &st))
        return 1;
    FILE *f = open_stream(fd, argv[0], argv[1]);
    for (;;) {
        int e = get_batch(fd, argv[0], max, &buf, &len, &g, 1);
        if (e == EAGAIN)
            break;
        if (e)
            return e;
        if (check_and_append(f, buf, g.bytes_needed, st.device_bytes / 512))
            return 1;
        struct cbt_ioc_commit c;
        memset(&c, 0, sizeof(c));
        c.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_commit);
        set_name(c.name, sizeof(c.name), argv[0]);
        c.batch_id = g.batch.batch_id;
        e = xioctl(fd, CBT_IOC_COMMIT, &c, "commit");
        if (e)
            return e;
        batches++;
        records += g.batch.nr_records;
    }
    fclose(f);
    printf("drained %" PRIu64 " batches, %" PRIu64 " records\n", batches, records);
    free(buf);
    return 0;
}

static int cmd_bitmap(int argc, char **argv)
{
    struct cbt_ioc_status st;
    struct cbt_ioc_bitmap_read r;
    if (argc < 2)
        usage();
    int fd = ctl_fd();
    if (get_status(fd, argv[0], &st))
        return 1;
    if (!st.frozen_generation) {
        fprintf(stderr, "%s: bitmap: no frozen generation (cut first)\n", prog);
        return ENOENT;
    }
    uint64_t bits_len = cbt_bitmap_bits_len(cbt_bitmap_bits(st.device_bytes, st.granularity));
    uint8_t *bits = calloc(1, bits_len ? bits_len : 1);
    memset(&r, 0, sizeof(r));
    r.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_bitmap_read);
    set_name(r.name, sizeof(r.name), argv[0]);
    r.generation = st.frozen_generation;
    r.buf = (uintptr_t)bits;
    r.buf_len = bits_len;
    int e = xioctl(fd, CBT_IOC_BITMAP_READ, &r, "bitmap read");
    if (e)
        return e;
    cbt_bitmap_hdr_seal(&r.bitmap, bits);
    FILE *f = fopen(argv[1], "wb");
    if (!f || fwrite(&r.bitmap, sizeof(r.bitmap), 1, f) != 1 || fwrite(bits, bits_len, 1, f) != 1 ||
        fclose(f)) {
        fprintf(stderr, "%s: %s: write failed\n", prog, argv[1]);
        return 1;
    }
    uint64_t set = 0;
    for (uint64_t i = 0; i < r.bitmap.nr_bits; i++)
        set += cbt_bitmap_test(bits, i);
    printf("bitmap generation %" PRIu64 " bits %" PRIu64 " set %" PRIu64 "\n", r.generation,
           r.bitmap.nr_bits, set);
    free(bits);
    return 0;
}

static uint8_t *slurp(const char *path, uint64_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (n > 0 && fread(b, (size_t)n, 1, f) != 1) {
        fprintf(stderr, "%s: %s: read failed\n", prog, path);
        exit(1);
    }
    fclose(f);
    *len = (uint64_t)n;
    return b;
}

typedef void (*rec_fn)(void *ctx, const struct cbt_record *r, const uint8_t *data);

/* Walks every record of a stream file, validating it; returns records seen or -1. */
static long walk_stream(const char *path, struct cbt_stream_hdr *h, rec_fn fn, void *ctx)
{
    uint64_t len, off;
    uint8_t *b = slurp(path, &len);
    long n = 0;
    uint64_t next_seq = 0;
    int fe = cbt_stream_hdr_decode(b, len, h);

    if (fe) {
        fprintf(stderr, "%s: %s: stream header: %s\n", prog, path, cbt_fmt_err_str(fe));
        return -1;
    }
    for (off = sizeof(*h); off < len;) {
        uint64_t blen;
        struct cbt_batch bh;
        fe = cbt_batch_check(b + off, len - off, h->device_bytes / 512, &blen);
        if (fe) {
            fprintf(stderr, "%s: %s: batch at %" PRIu64 ": %s\n", prog, path, off,
                    cbt_fmt_err_str(fe));
            return -1;
        }
        memcpy(&bh, b + off, sizeof(bh));
        if (next_seq && bh.first_seq != next_seq) {
            fprintf(stderr, "%s: %s: sequence jumps from %" PRIu64 " to %" PRIu64 "\n", prog, path,
                    next_seq, bh.first_seq);
            return -1;
        }
        next_seq = bh.last_seq + 1;
        uint64_t ro = off + sizeof(bh);
        for (uint32_t i = 0; i < bh.nr_records; i++) {
            struct cbt_record r;
            const uint8_t *data = NULL;
            cbt_rec_decode(b + ro, off + blen - ro, 0, &r, &data);
            fn(ctx, &r, data);
            ro += cbt_rec_total_len(&r);
            n++;
        }
        off += blen;
    }
    free(b);
    return n;
}

struct cover {
    uint8_t *covered;
    uint64_t nbits;
    uint32_t gran;
    long gaps, data_recs, meta_recs;
};

static void cover_rec(void *ctx, const struct cbt_record *r, const uint8_t *data)
{
    struct cover *c = ctx;
    (void)data;
    if (r->type == CBT_REC_GAP)
        c->gaps++;
    if (r->type == CBT_REC_WRITE)
        (r->flags & CBT_RF_HAS_DATA) ? c->data_recs++ : c->meta_recs++;
    if (!cbt_rec_type_has_range(r->type))
        return;
    uint64_t first = r->sector * 512 / c->gran;
    uint64_t last = ((r->sector + r->nr_sectors) * 512 - 1) / c->gran;
    for (uint64_t b = first; b <= last && b < c->nbits; b++)
        c->covered[b] = 1;
}

/*
 * check-cover LOG STREAM BITMAP: every range in LOG ("sector nr_sectors" per line, the
 * ground-truth writer's record) must be covered by a record of STREAM or a bit of BITMAP.
 * With --exclusive FIRST, blocks at or after sector FIRST are written only by the writer:
 * any tracked block there that the log does not explain is over-marking, reported.
 */
static int cmd_check_cover(int argc, char **argv)
{
    struct cbt_stream_hdr h;
    struct cbt_bitmap_hdr bh;
    const uint8_t *bits;
    uint64_t blen, excl = ~0ull;
    struct cover c = {0};

    if (argc < 3)
        usage();
    if (argc > 4 && !strcmp(argv[3], "--exclusive"))
        excl = num(argv[4]);
    uint8_t *bm = slurp(argv[2], &blen);
    int fe = cbt_bitmap_decode(bm, blen, &bh, &bits);
    if (fe) {
        fprintf(stderr, "%s: %s: %s\n", prog, argv[2], cbt_fmt_err_str(fe));
        return 1;
    }
    c.nbits = bh.nr_bits;
    c.gran = bh.granularity;
    c.covered = calloc(1, c.nbits);
    long nrec = walk_stream(argv[1], &h, cover_rec, &c);
    if (nrec < 0)
        return 1;
    if (h.granularity != bh.granularity || h.device_bytes != bh.device_bytes) {
        fprintf(stderr, "%s: stream and bitmap describe different devices\n", prog);
        return 1;
    }
    uint8_t *truth = calloc(1, c.nbits);
    uint64_t from_bitmap = 0, misses = 0, over = 0, writes = 0;
    for (uint64_t i = 0; i < c.nbits; i++)
        if (cbt_bitmap_test(bits, i) && !c.covered[i]) {
            c.covered[i] = 1;
            from_bitmap++;
        }
    FILE *lf = fopen(argv[0], "r");
    if (!lf) {
        fprintf(stderr, "%s: %s: %s\n", prog, argv[0], strerror(errno));
        return 1;
    }
    unsigned long long s, n;
    while (fscanf(lf, "%llu %llu", &s, &n) == 2) {
        writes++;
        uint64_t first = s * 512 / c.gran, last = ((s + n) * 512 - 1) / c.gran;
        for (uint64_t b = first; b <= last && b < c.nbits; b++) {
            truth[b] = 1;
            if (!c.covered[b]) {
                if (misses < 10)
                    fprintf(stderr, "MISS: sector %llu +%llu (bit %" PRIu64 ")\n", s, n, b);
                misses++;
            }
        }
    }
    fclose(lf);
    for (uint64_t b = excl * 512 / c.gran + (excl * 512 % c.gran != 0);
         excl != ~0ull && b < c.nbits; b++)
        if (c.covered[b] && !truth[b])
            over++;
    printf("check-cover: %" PRIu64 " writes, %ld records (%ld data, %ld meta, %ld gaps), "
           "%" PRIu64 " blocks only in the bitmap, misses %" PRIu64 ", over-marked %" PRIu64 "\n",
           writes, nrec, c.data_recs, c.meta_recs, c.gaps, from_bitmap, misses, over);
    return misses || over ? 1 : 0;
}

struct replay {
    int fd;
    long applied, skipped;
    int bad;
};

static void replay_rec(void *ctx, const struct cbt_record *r, const uint8_t *data)
{
    struct replay *rp = ctx;
    uint64_t len = (uint64_t)r->nr_sectors * 512;
    off_t off = (off_t)(r->sector * 512);

    if (r->type == CBT_REC_WRITE && (r->flags & CBT_RF_HAS_DATA)) {
        if (pwrite(rp->fd, data, len, off) != (ssize_t)len)
            rp->bad = 1;
        rp->applied++;
    } else if (r->type == CBT_REC_DISCARD || r->type == CBT_REC_WRITE_ZEROES ||
               r->type == CBT_REC_SECURE_ERASE) {
        static uint8_t zero[1 << 16];
        for (uint64_t d = 0; d < len; d += sizeof(zero)) {
            size_t k = len - d < sizeof(zero) ? len - d : sizeof(zero);
            if (pwrite(rp->fd, zero, k, off + (off_t)d) != (ssize_t)k)
                rp->bad = 1;
        }
        rp->applied++;
    } else if (r->type == CBT_REC_TAG) {
        /* consistency point: nothing to apply */
    } else {
        /* META write, DIRTY, GAP: a DATA-mode replay cannot reproduce these */
        rp->skipped++;
    }
}

/* replay STREAM TARGET: applies DATA-mode records in sequence order onto TARGET. Fails when
 * the stream holds anything a pure replay cannot reproduce (META, DIRTY, GAP records). */
static int cmd_replay(int argc, char **argv)
{
    struct cbt_stream_hdr h;
    struct replay rp = {0};
    if (argc < 2)
        usage();
    rp.fd = open(argv[1], O_WRONLY);
    if (rp.fd < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, argv[1], strerror(errno));
        return 1;
    }
    long n = walk_stream(argv[0], &h, replay_rec, &rp);
    if (n < 0 || rp.bad || fsync(rp.fd))
        return 1;
    close(rp.fd);
    printf("replay: %ld records, %ld applied, %ld not replayable\n", n, rp.applied, rp.skipped);
    return rp.skipped ? 1 : 0;
}

static const char *rec_type_str(uint32_t t)
{
    static const char *names[] = {"?",   "WRITE", "DISCARD", "WRITE_ZEROES", "SECURE_ERASE",
                                  "TAG", "GAP",   "DIRTY"};
    return t <= CBT_REC_TYPE_MAX ? names[t] : "?";
}

static void dump_rec(void *ctx, const struct cbt_record *r, const uint8_t *data)
{
    (void)ctx;
    printf("%" PRIu64 " %s sector %" PRIu64 " nr %u flags 0x%x data %u reason %u aux %" PRIu64,
           r->seq, rec_type_str(r->type), r->sector, r->nr_sectors, r->flags, r->data_len,
           r->reason, r->aux);
    if (r->type == CBT_REC_TAG) {
        struct cbt_tag t;
        memcpy(&t, data, sizeof(t));
        printf(" tag %" PRIu64 " name %s devices %u", t.tag_id, t.name, t.nr_devices);
    }
    printf("\n");
}

static int cmd_dump(int argc, char **argv)
{
    struct cbt_stream_hdr h;
    if (argc < 1)
        usage();
    return walk_stream(argv[0], &h, dump_rec, NULL) < 0 ? 1 : 0;
}

/* bad-input: requests a careful kernel must refuse with an errno, never an oops. */
static int cmd_bad_input(void)
{
    int fd = ctl_fd(), fails = 0;
    union {
        struct cbt_ioc_attach a;
        struct cbt_ioc_get g;
        struct cbt_ioc_status s;
        struct cbt_ioc_commit c;
        struct cbt_ioc_cut cut;
        struct cbt_ioc_bitmap_read r;
        struct cbt_ioc_tag t;
        struct cbt_ioc_mark_dirty m;
        struct cbt_ioc_resync rs;
        uint8_t raw[1024];
    } u;
#define EXPECT(req, want, what)                                                                    \
    do {                                                                                           \
        int _r = ioctl(fd, req, &u);                                                               \
        int _e = _r ? errno : 0;                                                                   \
        if (_e != (want)) {                                                                        \
            fprintf(stderr, "bad-input: %s: got %s, want %s\n", what, strerror(_e),                \
                    strerror(want));                                                               \
            fails++;                                                                               \
        } else {                                                                                   \
            printf("ok: %s -> %s\n", what, strerror(want));                                        \
        }                                                                                          \
    } while (0)

    memset(&u, 0, sizeof(u));
    u.s.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_status);
    u.s.hdr.version = 99;
    EXPECT(CBT_IOC_STATUS, EINVAL, "status with a bad version");
    u.s.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_status);
    u.s.hdr.size = 12;
    EXPECT(CBT_IOC_STATUS, EINVAL, "status with a bad size");
    u.s.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_status);
    strcpy(u.s.name, "no-such-device");
    EXPECT(CBT_IOC_STATUS, ENOENT, "status of an unknown device");
    memset(u.s.name, 'x', sizeof(u.s.name)); /* not terminated */
    EXPECT(CBT_IOC_STATUS, ENOENT, "status with an unterminated name");
    if (ioctl(fd, CBT_IOC_STATUS, (void *)16) == 0 || errno != EFAULT) {
        fprintf(stderr, "bad-input: status with a bad pointer: %s\n", strerror(errno));
        fails++;
    } else {
        printf("ok: status with a bad pointer -> %s\n", strerror(EFAULT));
    }
    EXPECT(_IOWR(CBT_IOC_MAGIC, 0x7f, struct cbt_ioc_status), ENOTTY, "unknown request");

    memset(&u, 0, sizeof(u));
    u.a.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_attach);
    strcpy(u.a.name, "bad name!");
    strcpy(u.a.dev_path, "/dev/null");
    EXPECT(CBT_IOC_ATTACH, EINVAL, "attach with a bad name");
    strcpy(u.a.name, "x");
    strcpy(u.a.dev_path, "/dev/does-not-exist");
    EXPECT(CBT_IOC_ATTACH, ENOENT, "attach of a missing device");
    strcpy(u.a.dev_path, "/dev/null");
    EXPECT(CBT_IOC_ATTACH, ENOTBLK, "attach of a character device");
    u.a.mem_cap_bytes = 1000;
    EXPECT(CBT_IOC_ATTACH, EINVAL, "attach with a tiny cap");
    u.a.mem_cap_bytes = 1ull << 50;
    EXPECT(CBT_IOC_ATTACH, EINVAL, "attach with a huge cap");
    u.a.mem_cap_bytes = 0;
    u.a.granularity = 3000;
    EXPECT(CBT_IOC_ATTACH, EINVAL, "attach with a bad granularity");
    u.a.granularity = 0;
    u.a.flags = 0x80;
    EXPECT(CBT_IOC_ATTACH, EINVAL, "attach with unknown flags");
    u.a.flags = 0;
    memset(u.a.dev_path, 'a', sizeof(u.a.dev_path));
    EXPECT(CBT_IOC_ATTACH, EINVAL, "attach with an unterminated path");

    memset(&u, 0, sizeof(u));
    u.g.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_get);
    strcpy(u.g.name, "nope");
    u.g.buf = 4096;
    u.g.buf_len = 1 << 20;
    EXPECT(CBT_IOC_GET, ENOENT, "get from an unknown device");
    memset(&u, 0, sizeof(u));
    u.c.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_commit);
    strcpy(u.c.name, "nope");
    EXPECT(CBT_IOC_COMMIT, ENOENT, "commit on an unknown device");
    memset(&u, 0, sizeof(u));
    u.t.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_tag);
    u.t.nr_devices = 0;
    EXPECT(CBT_IOC_TAG, EINVAL, "tag of no device");
    u.t.nr_devices = 99;
    EXPECT(CBT_IOC_TAG, EINVAL, "tag of too many devices");
    memset(&u, 0, sizeof(u));
    u.rs.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_resync);
    u.rs.hdr.size = 56;
    EXPECT(CBT_IOC_RESYNC, EINVAL, "resync with a bad size");
    u.rs.hdr = (struct cbt_ioc_hdr)CBT_IOC_HDR_INIT(struct cbt_ioc_resync);
    strcpy(u.rs.name, "nope");
    u.rs.op = CBT_RESYNC_DONE;
    u.rs.generation = 1;
    EXPECT(CBT_IOC_RESYNC, ENOENT, "resync done on an unknown device");
    memset(u.rs.name, 'x', sizeof(u.rs.name)); /* not terminated */
    EXPECT(CBT_IOC_RESYNC, ENOENT, "resync with an unterminated name");
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *c = argv[1];
    argc -= 2;
    argv += 2;
    if (!strcmp(c, "version"))
        return cmd_version();
    if (!strcmp(c, "attach"))
        return cmd_attach(argc, argv);
    if (!strcmp(c, "detach"))
        return cmd_detach(argc, argv);
    if (!strcmp(c, "status"))
        return cmd_status(argc, argv);
    if (!strcmp(c, "list"))
        return cmd_list();
    if (!strcmp(c, "wait"))
        return cmd_wait(argc, argv);
    if (!strcmp(c, "tag"))
        return cmd_tag(argc, argv);
    if (!strcmp(c, "mark-dirty"))
        return cmd_mark_dirty(argc, argv);
    if (!strcmp(c, "cut"))
        return cmd_cut(argc, argv);
    if (!strcmp(c, "resync-require"))
        return cmd_resync_require(argc, argv);
    if (!strcmp(c, "resync-done"))
        return cmd_resync_done(argc, argv);
    if (!strcmp(c, "resync"))
        return cmd_resync(argc, argv);
    if (!strcmp(c, "get"))
        return cmd_get(argc, argv);
    if (!strcmp(c, "commit"))
        return cmd_commit(argc, argv);
    if (!strcmp(c, "drain"))
        return cmd_drain(argc, argv);
    if (!strcmp(c, "bitmap"))
        return cmd_bitmap(argc, argv);
    if (!strcmp(c, "check-cover"))
        return cmd_check_cover(argc, argv);
    if (!strcmp(c, "replay"))
        return cmd_replay(argc, argv);
    if (!strcmp(c, "dump"))
        return cmd_dump(argc, argv);
    if (!strcmp(c, "bad-input"))
        return cmd_bad_input();
    usage();
}
