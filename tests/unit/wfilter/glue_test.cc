// The real bridge between the WDM glue and the core (wfilter/sys/track_core.c) with the
// real core, on Linux: the write path as io.c drives it and every control IOCTL with the
// Windows convention (data after the struct), against fake disks and metadata files.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <cbtrep/cbtrep.h>

#include "glue_env.h"

extern "C" {
#include "lib/rearm.h"
#include "lib/wioctl.h"
}

namespace
{

constexpr uint64_t kDisk = 64ull << 20; // 64 MiB

template <typename T> T req()
{
    T r;
    std::memset(&r, 0, sizeof(r));
    r.hdr.version = CBT_IOCTL_VERSION;
    r.hdr.size = sizeof(T);
    return r;
}

void name(char *dst, const char *n)
{
    std::strncpy(dst, n, CBT_NAME_LEN - 1);
}

int attach(const char *n, unsigned disk, const char *meta = "", uint64_t cap = 0,
           cbt_ioc_attach *out = nullptr)
{
    auto a = req<cbt_ioc_attach>();
    name(a.name, n);
    std::strncpy(a.meta_path, meta, sizeof(a.meta_path) - 1);
    a.dev = disk;
    a.mem_cap_bytes = cap;
    int err = genv_ioctl(CBT_IOC_NR_ATTACH, &a, sizeof(a), nullptr);
    if (out)
        *out = a;
    return err;
}

int detach(const char *n, uint32_t flags = 0)
{
    auto d = req<cbt_ioc_detach>();
    name(d.name, n);
    d.flags = flags;
    return genv_ioctl(CBT_IOC_NR_DETACH, &d, sizeof(d), nullptr);
}

cbt_ioc_status status(const char *n)
{
    auto s = req<cbt_ioc_status>();
    name(s.name, n);
    REQUIRE(genv_ioctl(CBT_IOC_NR_STATUS, &s, sizeof(s), nullptr) == 0);
    return s;
}

struct Batch {
    int err = 0;
    uint64_t info = 0;
    cbt_ioc_get get{};
    std::vector<cbt_record> recs;
    std::vector<std::vector<uint8_t>> data;
};

Batch get(const char *n, uint64_t room = 1 << 20)
{
    std::vector<uint8_t> buf(sizeof(cbt_ioc_get) + room);
    auto g = req<cbt_ioc_get>();
    name(g.name, n);
    g.buf_len = room;
    std::memcpy(buf.data(), &g, sizeof(g));
    Batch b;
    b.err = genv_ioctl(CBT_IOC_NR_GET, buf.data(), (uint32_t)buf.size(), &b.info);
    std::memcpy(&b.get, buf.data(), sizeof(g));
    if (b.err)
        return b;
    const uint8_t *p = buf.data() + sizeof(g);
    cbt_batch hdr;
    std::memcpy(&hdr, p, sizeof(hdr));
    REQUIRE(cbt_batch_check_hdr(&hdr) == CBT_FMT_OK);
    uint64_t off = sizeof(hdr);
    for (uint32_t i = 0; i < hdr.nr_records; i++) {
        cbt_record r;
        const uint8_t *d = nullptr;
        REQUIRE(cbt_rec_decode(p + off, hdr.payload_len + sizeof(hdr) - off, kDisk >> 9, &r, &d) ==
                CBT_FMT_OK);
        b.recs.push_back(r);
        b.data.emplace_back(d, d + r.data_len);
        off += sizeof(r) + r.data_len;
    }
    return b;
}

int commit(const char *n, uint64_t id)
{
    auto c = req<cbt_ioc_commit>();
    name(c.name, n);
    c.batch_id = id;
    return genv_ioctl(CBT_IOC_NR_COMMIT, &c, sizeof(c), nullptr);
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed)
{
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; i++)
        v[i] = (uint8_t)(seed + i * 13);
    return v;
}

cbt_meta meta_of(const char *path)
{
    size_t len = 0;
    const uint8_t *p = genv_file(path, &len);
    REQUIRE(p);
    cbt_meta m;
    REQUIRE(cbt_meta_decode(p, len, &m) == CBT_FMT_OK);
    return m;
}

struct Env {
    Env()
    {
        genv_reset();
        genv_add_disk(0, kDisk);
        genv_add_disk(1, kDisk);
    }
    ~Env()
    {
        detach("a");
        detach("b");
    }
};

} // namespace

TEST_CASE("glue: writes are journalled with their data in completion order", "[wfilter][glue]")
{
    Env env;
    REQUIRE(attach("a", 0) == 0);
    auto d1 = pattern(8192, 1), d2 = pattern(4096, 2);
    void *w1 = genv_begin(0, 0, 1 << 20, 8192, d1.data());
    void *w2 = genv_begin(0, 0, 0, 4096, d2.data());
    REQUIRE(w1);
    REQUIRE(w2);
    genv_end(w2, 1); // completes first: journalled first
    genv_end(w1, 1);
    Batch b = get("a");
    REQUIRE(b.err == 0);
    CHECK(b.info == sizeof(cbt_ioc_get) + b.get.bytes_needed);
    REQUIRE(b.recs.size() == 2);
    CHECK(b.get.batch.mode == CBT_MODE_DATA);
    CHECK(b.recs[0].sector == 0);
    CHECK(b.data[0] == d2);
    CHECK(b.recs[1].sector == (1 << 20) / 512);
    CHECK(b.data[1] == d1);
    CHECK(b.recs[1].seq == b.recs[0].seq + 1);
    CHECK(genv_ready_events() > 0);
    // Until COMMIT the same batch comes back; after it there is nothing.
    CHECK(get("a").get.batch.batch_id == b.get.batch.batch_id);
    REQUIRE(commit("a", b.get.batch.batch_id) == 0);
    CHECK(get("a").err == -EAGAIN);
    CHECK(commit("a", b.get.batch.batch_id) == -ESTALE);
}

TEST_CASE("glue: failed writes and uncapturable data become DIRTY ranges, never data",
          "[wfilter][glue]")
{
    Env env;
    REQUIRE(attach("a", 0) == 0);
    auto d = pattern(4096, 3);
    CHECK(genv_write(0, 4096, d.data(), 4096, 0));       // failed
    CHECK(genv_write(0, 8192, nullptr, 4096, 1));        // MDL could not be mapped
    CHECK(genv_write(0, 12288 + 100, d.data(), 512, 1)); // not sector aligned
    Batch b = get("a");
    REQUIRE(b.recs.size() == 3);
    for (auto &r : b.recs) {
        CHECK(r.type == CBT_REC_DIRTY);
        CHECK(r.reason == CBT_REASON_WRITE_ERROR);
        CHECK(r.data_len == 0);
    }
    CHECK(b.recs[2].sector == (12288 + 100) / 512);
    CHECK(b.recs[2].nr_sectors == 2); // rounded outward: 12388..12900 spans two sectors
    CHECK(status("a").writes_failed == 3);
}

TEST_CASE("glue: a discard is a DISCARD record of its range", "[wfilter][glue]")
{
    Env env;
    REQUIRE(attach("a", 0) == 0);
    genv_end(genv_begin(0, 1, 1 << 20, 1 << 20, nullptr), 1);
    Batch b = get("a");
    REQUIRE(b.recs.size() == 1);
    CHECK(b.recs[0].type == CBT_REC_DISCARD);
    CHECK(b.recs[0].sector == 2048);
    CHECK(b.recs[0].nr_sectors == 2048);
}

TEST_CASE("glue: journal memory cap degrades DATA -> META -> BITMAP and STATUS says why",
          "[wfilter][glue]")
{
    Env env;
    REQUIRE(attach("a", 0, "", (64ull << 10) /* CBT_MEM_CAP_MIN */) == 0);
    // Data fills the 64 KiB cap after a few writes (-> META); 160-byte records fill it
    // after about 400 more (-> BITMAP).
    auto d = pattern(4096, 4);
    for (int i = 0; i < 600; i++)
        genv_write(0, (uint64_t)i * 4096, d.data(), d.size(), 1);
    auto s = status("a");
    CHECK(s.mode == CBT_MODE_BITMAP);
    CHECK(s.mode_reason == CBT_REASON_JOURNAL_RECORD_CAP);
    CHECK(s.records_dropped > 0);
    CHECK(s.mode_changes >= 2);
    CHECK(s.mem_used <= s.mem_cap);
    CHECK(s.hook_calls == 600);
    CHECK(s.dirty_bits > 0);

    // Draining brings it back by itself, and the journal says where the gap was.
    bool gap = false;
    for (int i = 0; i < 100; i++) {
        Batch b = get("a");
        if (b.err == -EAGAIN)
            break;
        REQUIRE(b.err == 0);
        for (auto &r : b.recs)
            gap |= r.type == CBT_REC_GAP;
        REQUIRE(commit("a", b.get.batch.batch_id) == 0);
    }
    genv_write(0, 0, d.data(), d.size(), 1);
    for (int i = 0; i < 100 && !gap; i++) {
        Batch b = get("a");
        if (b.err)
            break;
        for (auto &r : b.recs)
            gap |= r.type == CBT_REC_GAP;
        REQUIRE(commit("a", b.get.batch.batch_id) == 0);
    }
    s = status("a");
    CHECK(s.mode != CBT_MODE_BITMAP);
    CHECK(s.mode_reason == CBT_REASON_RECOVERED);
    CHECK(gap);
}

TEST_CASE("glue: attach refuses bad requests with the ioctl.h errors", "[wfilter][glue]")
{
    Env env;
    CHECK(attach("bad name", 0) == -EINVAL);
    CHECK(attach("a", 3) == -ENOENT);
    CHECK(attach("a", 0, "A:\\on-the-tracked-disk.meta") == -EINVAL);
    auto a = req<cbt_ioc_attach>();
    name(a.name, "a");
    std::strcpy(a.dev_path, "\\\\.\\PhysicalDrive0"); // Windows names disks by number
    CHECK(genv_ioctl(CBT_IOC_NR_ATTACH, &a, sizeof(a), nullptr) == -EINVAL);
    REQUIRE(attach("a", 0) == 0);
    CHECK(attach("a", 1) == -EEXIST); // name taken
    CHECK(attach("b", 0) == -EEXIST); // disk taken
    CHECK(detach("zzz") == -ENOENT);
}

TEST_CASE("glue: LIST returns names after the struct and counts all", "[wfilter][glue]")
{
    Env env;
    REQUIRE(attach("a", 0) == 0);
    REQUIRE(attach("b", 1) == 0);
    std::vector<uint8_t> buf(sizeof(cbt_ioc_list) + CBT_NAME_LEN); // room for one
    auto l = req<cbt_ioc_list>();
    l.max = 8;
    std::memcpy(buf.data(), &l, sizeof(l));
    uint64_t info = 0;
    REQUIRE(genv_ioctl(CBT_IOC_NR_LIST, buf.data(), (uint32_t)buf.size(), &info) == 0);
    std::memcpy(&l, buf.data(), sizeof(l));
    CHECK(l.count == 2);
    CHECK(info == buf.size());
    CHECK(std::string((char *)buf.data() + sizeof(l)) == "a");
}

TEST_CASE("glue: GET into a too-small buffer says how much it needs", "[wfilter][glue]")
{
    Env env;
    REQUIRE(attach("a", 0) == 0);
    auto d = pattern(4096, 5);
    genv_write(0, 0, d.data(), d.size(), 1);
    Batch b = get("a", 100);
    CHECK(b.err == -ENOSPC);
    CHECK(b.get.bytes_needed == sizeof(cbt_batch) + sizeof(cbt_record) + 4096);
    CHECK(b.info == sizeof(cbt_ioc_get)); // the struct goes back (STATUS_BUFFER_OVERFLOW)
    CHECK(get("a", b.get.bytes_needed).err == 0);
}

// A metadata image as an orderly detach leaves it: CLEAN, with one dirty block saved.
static std::vector<uint8_t> clean_image(const char *n, uint64_t dirty_bit)
{
    uint32_t g = cbt_granularity_for_size(kDisk);
    cbt_bitmap_hdr bh;
    cbt_bitmap_hdr_init(&bh, 7, kDisk, g);
    std::vector<uint8_t> img(CBT_META_AREA_SIZE + sizeof(bh) + bh.bits_len, 0);
    uint8_t *bits = img.data() + CBT_META_AREA_SIZE + sizeof(bh);
    bits[dirty_bit / 8] |= (uint8_t)(1u << (dirty_bit % 8));
    cbt_bitmap_hdr_seal(&bh, bits);
    std::memcpy(img.data() + CBT_META_AREA_SIZE, &bh, sizeof(bh));
    cbt_meta m;
    cbt_meta_init(&m, n, kDisk, g);
    m.state = CBT_STATE_CLEAN;
    m.generation = 7;
    m.last_seq = 41;
    m.bitmap_offset = CBT_META_AREA_SIZE;
    m.bitmap_len = sizeof(bh) + bh.bits_len;
    cbt_meta_seal(&m);
    std::memcpy(img.data(), &m, sizeof(m));
    return img;
}

TEST_CASE("glue: a new device stays resync-required through detach", "[wfilter][glue]")
{
    Env env;
    const char *m = "D:\\cbtrep\\a.meta";
    cbt_ioc_attach a{};
    REQUIRE(attach("a", 0, m, 0, &a) == 0);
    CHECK(a.state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(a.reason == CBT_REASON_NEW_DEVICE);
    CHECK(meta_of(m).state == CBT_STATE_DIRTY); // dirty before the first tracked write
    REQUIRE(detach("a") == 0);
    // No baseline yet: resync-required is kept, never turned into CLEAN.
    CHECK(meta_of(m).state == CBT_STATE_RESYNC_REQUIRED);
    REQUIRE(attach("a", 0, m) == 0);
    REQUIRE(detach("a", CBT_DETACH_DISCARD) == 0);
    CHECK(meta_of(m).state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(meta_of(m).reason == CBT_REASON_USER_REQUEST);
}

TEST_CASE("glue: a CLEAN header found by a plain ATTACH is not trusted (untracked window)",
          "[wfilter][glue]")
{
    // Nothing tracked the disk since boot (no re-arm record) or since DETACH: writes in
    // that window are not in the saved bitmap, so a CLEAN header cannot be believed.
    Env env;
    const char *m = "D:\\cbtrep\\a.meta";
    auto img = clean_image("a", 100);
    genv_file_set(m, img.data(), img.size());
    cbt_ioc_attach a{};
    REQUIRE(attach("a", 0, m, 0, &a) == 0);
    CHECK(a.state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(a.reason == CBT_REASON_UNTRACKED_WINDOW);
    CHECK(meta_of(m).state == CBT_STATE_DIRTY); // dirty before the first tracked write
    CHECK(status("a").next_seq == 42);          // numbering continues all the same
    REQUIRE(detach("a") == 0);
    CHECK(meta_of(m).state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(meta_of(m).reason == CBT_REASON_UNTRACKED_WINDOW);
}

TEST_CASE("glue: a DIRTY header at attach means an unclean shutdown", "[wfilter][glue]")
{
    Env env;
    const char *m = "D:\\cbtrep\\a.meta";
    auto img = clean_image("a", 3);
    cbt_meta hdr;
    std::memcpy(&hdr, img.data(), sizeof(hdr));
    hdr.state = CBT_STATE_DIRTY; // what a crash (or the boot-time flip) leaves
    cbt_meta_seal(&hdr);
    std::memcpy(img.data(), &hdr, sizeof(hdr));
    genv_file_set(m, img.data(), img.size());
    cbt_ioc_attach a{};
    REQUIRE(attach("a", 0, m, 0, &a) == 0);
    CHECK(a.state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(a.reason == CBT_REASON_UNCLEAN_SHUTDOWN);
}

TEST_CASE("glue: removing an attached disk leaves a resync-required orphan until detach",
          "[wfilter][glue]")
{
    Env env;
    const char *m = "D:\\cbtrep\\a.meta";
    REQUIRE(attach("a", 0, m) == 0);
    genv_remove(0);
    auto s = status("a");
    CHECK(s.state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(s.state_reason == CBT_REASON_DEVICE_REMOVED);
    CHECK(meta_of(m).state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(meta_of(m).reason == CBT_REASON_DEVICE_REMOVED);
    CHECK(genv_begin(0, 0, 0, 4096, nullptr) == nullptr); // nothing tracked any more
    CHECK(detach("a") == 0);
}

TEST_CASE("glue: a tag cuts both journals; bad groups are refused", "[wfilter][glue]")
{
    Env env;
    REQUIRE(attach("a", 0) == 0);
    REQUIRE(attach("b", 1) == 0);
    auto t = req<cbt_ioc_tag>();
    std::strcpy(t.tag_name, "before-upgrade");
    t.nr_devices = 2;
    name(t.devices[0], "a");
    name(t.devices[1], "b");
    REQUIRE(genv_ioctl(CBT_IOC_NR_TAG, &t, sizeof(t), nullptr) == 0);
    CHECK(t.tag_id != 0);
    for (const char *n : {"a", "b"}) {
        Batch b = get(n);
        REQUIRE(b.recs.size() == 1);
        CHECK(b.recs[0].type == CBT_REC_TAG);
        CHECK(b.recs[0].aux == t.tag_id);
    }
    name(t.devices[1], "a");
    CHECK(genv_ioctl(CBT_IOC_NR_TAG, &t, sizeof(t), nullptr) == -EINVAL); // twice the same
    name(t.devices[1], "zz");
    CHECK(genv_ioctl(CBT_IOC_NR_TAG, &t, sizeof(t), nullptr) == -ENOENT);
    t.nr_devices = 0;
    CHECK(genv_ioctl(CBT_IOC_NR_TAG, &t, sizeof(t), nullptr) == -EINVAL);
}

TEST_CASE("glue: bitmap cut and read return the written blocks after the struct", "[wfilter][glue]")
{
    Env env;
    cbt_ioc_attach a{};
    REQUIRE(attach("a", 0, "", 0, &a) == 0);
    auto d = pattern(4096, 8);
    genv_write(0, 0, d.data(), d.size(), 1);
    auto m = req<cbt_ioc_mark_dirty>();
    name(m.name, "a");
    m.sector = (32 << 20) / 512;
    m.nr_sectors = 8;
    REQUIRE(genv_ioctl(CBT_IOC_NR_MARK_DIRTY, &m, sizeof(m), nullptr) == 0);

    auto c = req<cbt_ioc_cut>();
    name(c.name, "a");
    REQUIRE(genv_ioctl(CBT_IOC_NR_BITMAP_CUT, &c, sizeof(c), nullptr) == 0);
    CHECK(c.dirty_bits == 2);

    std::vector<uint8_t> buf(sizeof(cbt_ioc_bitmap_read) + 4096);
    auto r = req<cbt_ioc_bitmap_read>();
    name(r.name, "a");
    r.generation = c.generation;
    r.buf_len = 4096;
    std::memcpy(buf.data(), &r, sizeof(r));
    uint64_t info = 0;
    REQUIRE(genv_ioctl(CBT_IOC_NR_BITMAP_READ, buf.data(), (uint32_t)buf.size(), &info) == 0);
    std::memcpy(&r, buf.data(), sizeof(r));
    REQUIRE(r.bytes_copied > 0);
    CHECK(info == sizeof(r) + r.bytes_copied);
    const uint8_t *bits = buf.data() + sizeof(r);
    uint64_t set = 0, bit32m = (32ull << 20) / a.granularity;
    for (uint64_t i = 0; i < r.bytes_copied * 8; i++)
        set += cbt_bitmap_test(bits, i) ? 1 : 0;
    CHECK(set == 2);
    CHECK(cbt_bitmap_test(bits, 0));
    CHECK(cbt_bitmap_test(bits, bit32m));
    r.generation = c.generation + 1;
    std::memcpy(buf.data(), &r, sizeof(r));
    CHECK(genv_ioctl(CBT_IOC_NR_BITMAP_READ, buf.data(), (uint32_t)buf.size(), nullptr) == -ESTALE);
}

// ---- RESYNC ----------------------------------------------------------------------------

namespace
{

uint64_t cut(const char *n, uint64_t done_generation = 0)
{
    auto c = req<cbt_ioc_cut>();
    name(c.name, n);
    c.done_generation = done_generation;
    REQUIRE(genv_ioctl(CBT_IOC_NR_BITMAP_CUT, &c, sizeof(c), nullptr) == 0);
    return c.generation;
}

int resync(const char *n, uint32_t op, uint32_t reason, uint64_t generation,
           cbt_ioc_resync *out = nullptr)
{
    auto r = req<cbt_ioc_resync>();
    name(r.name, n);
    r.op = op;
    r.reason = reason;
    r.generation = generation;
    int err = genv_ioctl(CBT_IOC_NR_RESYNC, &r, sizeof(r), nullptr);
    if (out)
        *out = r;
    return err;
}

} // namespace

TEST_CASE("glue: RESYNC done clears resync-required as of a cut and the header follows",
          "[wfilter][glue]")
{
    Env env;
    const char *m = "D:\\cbtrep\\a.meta";
    REQUIRE(attach("a", 0, m) == 0); // new device: resync-required
    uint64_t g = cut("a");
    auto d = pattern(4096, 9);
    REQUIRE(genv_write(0, 1 << 20, d.data(), d.size(), 1)); // during the resync
    cbt_ioc_resync r{};
    REQUIRE(resync("a", CBT_RESYNC_DONE, 0, g, &r) == 0);
    CHECK(r.state == CBT_STATE_DIRTY);
    CHECK(r.state_reason == CBT_REASON_NONE);
    CHECK(meta_of(m).state == CBT_STATE_DIRTY); // a crash now reads as UNCLEAN_SHUTDOWN
    auto st = status("a");
    CHECK(st.state == CBT_STATE_DIRTY);
    CHECK(st.dirty_bits == 1); // the write during the resync is still to replicate
    CHECK(get("a").recs.size() == 1);

    // The engine's log overflows: resync-required, on disk too, and an older resync
    // cannot clear it.
    REQUIRE(resync("a", CBT_RESYNC_REQUIRE, CBT_REASON_SPOOL_LIMIT, 0, &r) == 0);
    CHECK(r.state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(r.state_reason == CBT_REASON_SPOOL_LIMIT);
    CHECK(meta_of(m).state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(meta_of(m).reason == CBT_REASON_SPOOL_LIMIT);
    r = cbt_ioc_resync{};
    CHECK(resync("a", CBT_RESYNC_DONE, 0, g, &r) == -EAGAIN);
    CHECK(r.state == CBT_STATE_RESYNC_REQUIRED); // the struct says why, with EAGAIN too
    CHECK(r.state_reason == CBT_REASON_SPOOL_LIMIT);
    CHECK(meta_of(m).reason == CBT_REASON_SPOOL_LIMIT);
    uint64_t g2 = cut("a", g);
    REQUIRE(resync("a", CBT_RESYNC_DONE, 0, g2, &r) == 0);
    CHECK(meta_of(m).state == CBT_STATE_DIRTY);
    REQUIRE(detach("a") == 0);
    CHECK(meta_of(m).state == CBT_STATE_CLEAN);
}

TEST_CASE("glue: RESYNC refuses bad requests and a removed disk's DONE", "[wfilter][glue]")
{
    Env env;
    REQUIRE(attach("a", 0) == 0);
    uint64_t g = cut("a");
    CHECK(resync("zz", CBT_RESYNC_DONE, 0, g) == -ENOENT);
    CHECK(resync("", CBT_RESYNC_DONE, 0, g) == -EINVAL);
    CHECK(resync("a", 0, CBT_REASON_SPOOL_LIMIT, g) == -EINVAL);
    CHECK(resync("a", 7, CBT_REASON_SPOOL_LIMIT, g) == -EINVAL);
    CHECK(resync("a", CBT_RESYNC_REQUIRE, CBT_REASON_NONE, 0) == -EINVAL);
    CHECK(resync("a", CBT_RESYNC_REQUIRE, CBT_REASON_MAX + 1, 0) == -EINVAL);
    CHECK(resync("a", CBT_RESYNC_DONE, 0, 0) == -EINVAL);
    CHECK(resync("a", CBT_RESYNC_DONE, 0, g + 1) == -EINVAL); // not cut yet
    CHECK(status("a").state_reason == CBT_REASON_NEW_DEVICE);
    auto bad = req<cbt_ioc_resync>(); // control.c checks the header first (wioctl_test)
    bad.hdr.size = sizeof(bad) - 8;
    CHECK(cbt_wioc_check(CBT_IOC_NR_RESYNC, &bad, sizeof(bad), sizeof(bad)) == -EINVAL);

    // The disk goes away after the cut: no resync can have read it all.
    genv_remove(0);
    uint64_t g2 = cut("a", g);
    cbt_ioc_resync r{};
    CHECK(resync("a", CBT_RESYNC_DONE, 0, g2, &r) == -EAGAIN);
    CHECK(r.state_reason == CBT_REASON_DEVICE_REMOVED);
}

// ---- reboots: boot re-arm from the registry record (lib/rearm.h) ----------------------

namespace
{

constexpr unsigned kMetaDisk = 3; // "D:" holds the metadata files
const char *const kMeta = "D:\\cbtrep\\a.meta";

struct RebootEnv : Env {
    RebootEnv() { genv_add_disk(kMetaDisk, kDisk); }
};

cbt_rearm_rec record_of(const char *n)
{
    cbt_rearm_rec r{};
    REQUIRE(genv_record(n, &r, sizeof(r)) == 1);
    cbt_rearm_rec out{};
    REQUIRE(cbt_rearm_check(&r, sizeof(r), &out) == CBT_REARM_OK);
    return out;
}

// A device whose last shutdown saved a CLEAN header with @bit set. ATTACH makes the
// record and reserves the file; the core has no way from resync-required to tracking but
// a CLEAN load, so the file then gets what a shutdown of a tracking device writes.
void saved_clean(uint64_t bit)
{
    REQUIRE(attach("a", 0, kMeta) == 0);
    size_t len = 0;
    REQUIRE(genv_file(kMeta, &len));
    auto img = clean_image("a", bit);
    REQUIRE(img.size() <= len);
    img.resize(len, 0);
    genv_reboot();
    genv_file_set(kMeta, img.data(), img.size());
}

void boot_all()
{
    genv_boot_start(kMetaDisk);
    genv_boot_start(1);
    genv_boot_start(0);
}

bool bit_saved(uint64_t bit)
{
    cbt_meta saved = meta_of(kMeta);
    REQUIRE(saved.bitmap_offset == CBT_META_AREA_SIZE);
    size_t len = 0;
    const uint8_t *p = genv_file(kMeta, &len);
    cbt_bitmap_hdr bh;
    const uint8_t *bits = nullptr;
    REQUIRE(cbt_bitmap_decode(p + saved.bitmap_offset, len - saved.bitmap_offset, &bh, &bits) ==
            CBT_FMT_OK);
    return cbt_bitmap_test(bits, bit);
}

} // namespace

TEST_CASE("glue: ATTACH records the disk by identity; DETACH forgets it", "[wfilter][glue]")
{
    RebootEnv env;
    cbt_ioc_attach a{};
    REQUIRE(attach("a", 0, kMeta, 0, &a) == 0);
    auto r = record_of("a");
    CHECK(std::string(r.name) == "a");
    CHECK(r.tracked.kind == CBT_DISK_ID_GPT);
    CHECK(r.tracked.bytes == kDisk);
    CHECK(r.tracked.gpt_guid[0] == 0xa0);               // disk 0, not the metadata disk
    CHECK(r.meta_disk.gpt_guid[0] == 0xa0 + kMetaDisk); // where the file is
    CHECK(r.granularity == a.granularity);
    CHECK(r.meta_size % CBT_META_AREA_SIZE == 0);
    REQUIRE(detach("a") == 0);
    cbt_rearm_rec gone{};
    CHECK(genv_record("a", &gone, sizeof(gone)) == 0);
    genv_reboot();
    CHECK(genv_boot_start(0) == 0); // nothing re-armed
    CHECK(genv_begin(0, 0, 0, 4096, nullptr) == nullptr);
}

TEST_CASE("glue: reboot: a CLEAN header saved at shutdown is re-armed at START with its "
          "bitmap, tracks from the first write, and ATTACH adopts it",
          "[wfilter][glue]")
{
    RebootEnv env;
    saved_clean(100);

    // Boot 1. The metadata disk starts first here; the order is checked in another case.
    genv_boot_start(kMetaDisk);
    CHECK(genv_boot_start(0) == 1);
    CHECK(meta_of(kMeta).state == CBT_STATE_DIRTY); // before any write passes
    auto d = pattern(4096, 3);
    CHECK(genv_write(0, 8 << 20, d.data(), d.size(), 1) == 1); // tracked before ATTACH

    cbt_ioc_attach a{};
    REQUIRE(attach("a", 0, kMeta, 0, &a) == 0);
    CHECK(a.state == CBT_STATE_DIRTY); // CLEAN -> tracking: no resync
    CHECK(a.reason == CBT_REASON_NONE);
    auto s = status("a");
    CHECK(s.dirty_bits == 2); // the saved block and the write since boot
    CHECK(s.next_seq >= 42);  // numbering continues from the header
    CHECK(meta_of(kMeta).state == CBT_STATE_DIRTY);
    CHECK(attach("a", 0, kMeta) == -EEXIST); // adopted once, then an ordinary tracker

    // Shutdown 1 saves CLEAN with both blocks; boot 2 re-arms from exactly that.
    uint32_t g = cbt_granularity_for_size(kDisk);
    genv_shutdown();
    CHECK(meta_of(kMeta).state == CBT_STATE_CLEAN);
    CHECK(bit_saved(100));
    CHECK(bit_saved((8 << 20) / g));
    genv_reboot();
    boot_all();
    CHECK(meta_of(kMeta).state == CBT_STATE_DIRTY);
    CHECK(genv_write(0, 16 << 20, d.data(), d.size(), 1) == 1);
    REQUIRE(attach("a", 0, kMeta, 0, &a) == 0);
    CHECK(a.state == CBT_STATE_DIRTY);
    CHECK(status("a").dirty_bits == 3);
    REQUIRE(detach("a") == 0); // orderly: CLEAN with all three
    CHECK(meta_of(kMeta).state == CBT_STATE_CLEAN);
    CHECK(bit_saved(100));
    CHECK(bit_saved((16 << 20) / g));
}

TEST_CASE("glue: reboot: a DIRTY header at START means an unclean shutdown", "[wfilter][glue]")
{
    RebootEnv env;
    saved_clean(5);
    size_t len = 0;
    const uint8_t *p = genv_file(kMeta, &len);
    std::vector<uint8_t> img(p, p + len);
    cbt_meta hdr;
    std::memcpy(&hdr, img.data(), sizeof(hdr));
    hdr.state = CBT_STATE_DIRTY; // the crash left the header of a running tracker
    cbt_meta_seal(&hdr);
    std::memcpy(img.data(), &hdr, sizeof(hdr));
    genv_file_set(kMeta, img.data(), img.size());

    boot_all();
    CHECK(genv_write(0, 0, nullptr, 4096, 1) == 1); // still tracked from boot
    cbt_ioc_attach a{};
    REQUIRE(attach("a", 0, kMeta, 0, &a) == 0);
    CHECK(a.state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(a.reason == CBT_REASON_UNCLEAN_SHUTDOWN);
    genv_shutdown(); // no CLEAN after that: the resync is still owed
    CHECK(meta_of(kMeta).state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(meta_of(kMeta).reason == CBT_REASON_UNCLEAN_SHUTDOWN);
}

TEST_CASE("glue: reboot: a disk whose identity changed is not re-armed and resyncs",
          "[wfilter][glue]")
{
    RebootEnv env;
    saved_clean(5);
    genv_set_ident(0, CBT_DISK_ID_GPT, 0x99); // another disk (or a rewritten GUID) now
    genv_boot_start(kMetaDisk);
    CHECK(genv_boot_start(0) == 0);
    CHECK(genv_begin(0, 0, 0, 4096, nullptr) == nullptr);
    CHECK(meta_of(kMeta).state == CBT_STATE_CLEAN); // untouched, and not believed:
    cbt_ioc_attach a{};
    REQUIRE(attach("a", 0, kMeta, 0, &a) == 0);
    CHECK(a.state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(a.reason == CBT_REASON_IDENTITY_CHANGED);
    // The record now names the disk as it is: the next boot re-arms it.
    CHECK(record_of("a").tracked.gpt_guid[0] == 0x99);
}

TEST_CASE("glue: reboot: a disk without a partition-table identity is never re-armed",
          "[wfilter][glue]")
{
    RebootEnv env;
    genv_set_ident(0, CBT_DISK_ID_NONE, 0);
    REQUIRE(attach("a", 0, kMeta) == 0);
    cbt_rearm_rec r{};
    CHECK(genv_record("a", &r, sizeof(r)) == 0); // an unmatchable record is not stored
}

TEST_CASE("glue: reboot: metadata disk not started yet: tracked, resync-required, and the "
          "header is marked when that disk starts",
          "[wfilter][glue]")
{
    RebootEnv env;
    saved_clean(5);
    CHECK(genv_boot_start(0) == 1); // before the metadata disk
    CHECK(genv_write(0, 0, nullptr, 4096, 1) == 1);
    CHECK(meta_of(kMeta).state == CBT_STATE_CLEAN); // cannot be written yet...
    cbt_rearm_rec r{};
    CHECK(genv_record("a", &r, sizeof(r)) == 0); // ...so the record is withdrawn meanwhile
    genv_boot_start(kMetaDisk);
    CHECK(meta_of(kMeta).state == CBT_STATE_DIRTY); // a crash from here is never silent
    CHECK(genv_record("a", &r, sizeof(r)) == 1);    // and the next boot re-arms again
    cbt_ioc_attach a{};
    REQUIRE(attach("a", 0, kMeta, 0, &a) == 0);
    CHECK(a.state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(a.reason == CBT_REASON_METADATA_INVALID);
}

TEST_CASE("glue: reboot: unreadable or foreign metadata at START gives a reason", "[wfilter][glue]")
{
    RebootEnv env;
    SECTION("image shorter than the record says (unreadable)")
    {
        saved_clean(5);
        size_t len = 0;
        const uint8_t *p = genv_file(kMeta, &len);
        std::vector<uint8_t> img(p, p + CBT_META_AREA_SIZE);
        genv_file_set(kMeta, img.data(), img.size());
        boot_all();
        cbt_ioc_attach a{};
        REQUIRE(attach("a", 0, kMeta, 0, &a) == 0);
        CHECK(a.state == CBT_STATE_RESYNC_REQUIRED);
        CHECK(a.reason == CBT_REASON_METADATA_INVALID);
    }
    SECTION("the header belongs to another device")
    {
        saved_clean(5);
        size_t len = 0;
        REQUIRE(genv_file(kMeta, &len));
        auto img = clean_image("other", 5);
        img.resize(len, 0);
        genv_file_set(kMeta, img.data(), img.size());
        boot_all();
        CHECK(meta_of(kMeta).state == CBT_STATE_CLEAN); // not ours: never written over
        auto s = status("a");
        CHECK(s.state == CBT_STATE_RESYNC_REQUIRED);
        CHECK(s.state_reason == CBT_REASON_IDENTITY_CHANGED);
    }
    SECTION("a damaged registry record re-arms nothing, and ATTACH distrusts the header")
    {
        saved_clean(5);
        auto r = record_of("a");
        r.ext[0].disk_off ^= 512; // CRC no longer matches
        genv_record_set("a", &r, sizeof(r));
        boot_all();
        CHECK(genv_begin(0, 0, 0, 4096, nullptr) == nullptr);
        cbt_ioc_attach a{};
        REQUIRE(attach("a", 0, kMeta, 0, &a) == 0);
        CHECK(a.state == CBT_STATE_RESYNC_REQUIRED);
        CHECK(a.reason == CBT_REASON_UNTRACKED_WINDOW);
    }
}

TEST_CASE("glue: reboot: ATTACH naming another disk than the re-armed one drops it",
          "[wfilter][glue]")
{
    RebootEnv env;
    saved_clean(5);
    boot_all();
    cbt_ioc_attach a{};
    REQUIRE(attach("a", 1, kMeta, 0, &a) == 0);
    CHECK(genv_begin(0, 0, 0, 4096, nullptr) == nullptr); // disk 0 no longer tracked
    CHECK(a.state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(a.reason == CBT_REASON_UNCLEAN_SHUTDOWN); // the boot DIRTY header, never CLEAN
}

TEST_CASE("glue: reboot: metadata disk absent for a whole boot: the stale CLEAN header is "
          "not re-armed at the next boot",
          "[wfilter][glue]")
{
    RebootEnv env;
    saved_clean(5);
    CHECK(genv_boot_start(0) == 1);
    CHECK(genv_write(0, 0, nullptr, 4096, 1) == 1); // only memory knows about this write
    genv_shutdown();                                // nowhere to save it
    CHECK(meta_of(kMeta).state == CBT_STATE_CLEAN);
    genv_reboot();
    boot_all();
    CHECK(genv_begin(0, 0, 0, 4096, nullptr) == nullptr); // no record: not re-armed
    cbt_ioc_attach a{};
    REQUIRE(attach("a", 0, kMeta, 0, &a) == 0);
    CHECK(a.state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(a.reason == CBT_REASON_UNTRACKED_WINDOW);
}

TEST_CASE("glue: after a crash numbering resumes above every number handed out, an orderly "
          "detach continues exactly",
          "[wfilter][glue]")
{
    // docs/tracker.md, "Sequence numbers across a crash": the header of a running tracker
    // reserves numbers ahead, so a boot after a crash never hands out a number again.
    constexpr uint64_t CBT_SEQ_RESERVE = 1ull << 40; // core/cbt_tracker.h (kernel-only header)
    RebootEnv env;
    REQUIRE(attach("a", 0, kMeta) == 0);
    CHECK(meta_of(kMeta).last_seq == CBT_SEQ_RESERVE); // nothing handed out yet: 0 + R
    auto d = pattern(4096, 1);
    for (int i = 0; i < 5; i++)
        REQUIRE(genv_write(0, uint64_t(i) * 4096, d.data(), d.size(), 1) == 1);
    Batch b = get("a");
    REQUIRE(b.err == 0);
    REQUIRE(commit("a", b.get.batch.batch_id) == 0);
    uint64_t handed = status("a").next_seq - 1;
    for (int i = 0; i < 3; i++) // numbered after the last request, pending at the crash
        REQUIRE(genv_write(0, uint64_t(100 + i) * 4096, d.data(), d.size(), 1) == 1);
    handed += 3;
    CHECK(handed == 8);

    genv_reboot(); // the crash: memory lost, the DIRTY header of the running tracker stays
    boot_all();    // re-armed from it at START
    REQUIRE(genv_write(0, 0, d.data(), d.size(), 1) == 1); // tracked from boot
    cbt_ioc_attach a{};
    REQUIRE(attach("a", 0, kMeta, 0, &a) == 0);
    CHECK(a.reason == CBT_REASON_UNCLEAN_SHUTDOWN);
    Batch b2 = get("a");
    REQUIRE(b2.err == 0);
    REQUIRE(!b2.recs.empty());
    CHECK(b2.recs[0].seq > handed);
    CHECK(b2.recs[0].seq == CBT_SEQ_RESERVE + 1);
    REQUIRE(commit("a", b2.get.batch.batch_id) == 0);
    CHECK(meta_of(kMeta).last_seq >= b2.recs[0].seq + CBT_SEQ_RESERVE / 2);

    uint64_t next = status("a").next_seq;
    REQUIRE(detach("a") == 0); // resync-required still, but orderly: the exact number
    CHECK(meta_of(kMeta).state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(meta_of(kMeta).last_seq == next - 1);
    REQUIRE(attach("a", 0, kMeta) == 0);
    CHECK(status("a").next_seq == next);
}
