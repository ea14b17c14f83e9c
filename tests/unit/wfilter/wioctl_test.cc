// Request checks of the Windows driver: write ranges, disk IOCTLs that write below us,
// control IOCTL codes and buffers, errno -> NTSTATUS.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <vector>

extern "C" {
#include "lib/wioctl.h"
}
#include <cbtrep/ioctl.h>

// CTL_CODE(DeviceType, Function, Method, Access), as in Windows' devioctl.h.
static constexpr uint32_t ctl_code(uint32_t type, uint32_t fn, uint32_t method, uint32_t access)
{
    return (type << 16) | (access << 14) | (fn << 2) | method;
}
static constexpr uint32_t ours(uint32_t nr)
{
    return ctl_code(0x8cb0, 0x800 + nr, 0, 3);
}

TEST_CASE("write ranges: wrap-around and device end", "[wfilter][wioctl]")
{
    CHECK(cbt_wio_range_ok(0, 4096, 1 << 20));
    CHECK(cbt_wio_range_ok((1 << 20) - 4096, 4096, 1 << 20));
    CHECK_FALSE(cbt_wio_range_ok((1 << 20) - 4096, 8192, 1 << 20));
    CHECK_FALSE(cbt_wio_range_ok(UINT64_MAX - 10, 4096, 0));
    CHECK(cbt_wio_range_ok(UINT64_MAX - 4096, 4096, 0)); // size unknown: only the wrap
}

TEST_CASE("discard ranges are clamped to the device", "[wfilter][wioctl]")
{
    uint64_t off = 4096, len = 1 << 20;
    REQUIRE(cbt_wio_clamp(&off, &len, 65536));
    CHECK(off == 4096);
    CHECK(len == 65536 - 4096);
    off = 65536, len = 512;
    CHECK_FALSE(cbt_wio_clamp(&off, &len, 65536));
    off = 512, len = UINT64_MAX;
    REQUIRE(cbt_wio_clamp(&off, &len, 0));
    CHECK(len == UINT64_MAX - 512);
    off = 0, len = 0;
    CHECK_FALSE(cbt_wio_clamp(&off, &len, 65536));
}

TEST_CASE("partition-table and format IOCTLs are known to write below the filter",
          "[wfilter][wioctl]")
{
    const uint32_t rw = 3, disk = 7; // FILE_READ_ACCESS|FILE_WRITE_ACCESS, IOCTL_DISK_BASE
    for (uint32_t fn :
         {0x02u, 0x04u, 0x06u, 0x07u, 0x0bu, 0x13u, 0x15u, 0x16u, 0x29u, 0x34u, 0x40u})
        CHECK(cbt_wio_rewrites_below(ctl_code(disk, fn, 0, rw)));
    // Reads of the layout, geometry and length change nothing.
    CHECK_FALSE(cbt_wio_rewrites_below(ctl_code(disk, 0x14, 0, 1))); // GET_DRIVE_LAYOUT_EX
    CHECK_FALSE(cbt_wio_rewrites_below(ctl_code(disk, 0x00, 0, 0))); // GET_DRIVE_GEOMETRY
    CHECK_FALSE(cbt_wio_rewrites_below(ctl_code(disk, 0x17, 0, 1))); // GET_LENGTH_INFO
    CHECK(CBT_IOCTL_STORAGE_MANAGE_DATA_SET_ATTRIBUTES == ctl_code(0x2d, 0x501, 0, 2));
}

TEST_CASE("control IOCTL codes decode to request numbers", "[wfilter][wioctl]")
{
    for (int nr = CBT_IOC_NR_VERSION; nr <= CBT_IOC_NR_RESYNC; nr++)
        CHECK(cbt_wioc_nr(ours((uint32_t)nr)) == nr);
    CHECK(cbt_wioc_nr(ours(CBT_IOC_NR_RESYNC)) == 0x0c);
    CHECK(cbt_wioc_nr(ours(CBT_IOC_NR_RESYNC + 1)) == -1);
    CHECK(cbt_wioc_nr(ctl_code(0x8cb0, 0x7ff, 0, 3)) == -1);
    CHECK(cbt_wioc_nr(ctl_code(0x8cb0, 0x803, 3, 3)) == -1); // METHOD_NEITHER: never
    CHECK(cbt_wioc_nr(ctl_code(0x8cb0, 0x803, 2, 3)) == -1); // METHOD_OUT_DIRECT: not ours
    CHECK(cbt_wioc_nr(ctl_code(0x8cb0, 0x803, 0, 0)) == -1); // FILE_ANY_ACCESS
    CHECK(cbt_wioc_nr(ctl_code(0x8cb1, 0x803, 0, 3)) == -1);
}

TEST_CASE("control request structs are checked before use", "[wfilter][wioctl]")
{
    struct cbt_ioc_status st;
    std::memset(&st, 0, sizeof(st));
    st.hdr.version = CBT_IOCTL_VERSION;
    st.hdr.size = sizeof(st);
    const uint32_t n = sizeof(st);
    CHECK(cbt_wioc_check(CBT_IOC_NR_STATUS, &st, n, n) == 0);
    CHECK(cbt_wioc_check(CBT_IOC_NR_STATUS, &st, n - 1, n) == -EINVAL);
    CHECK(cbt_wioc_check(CBT_IOC_NR_STATUS, &st, n, n - 1) == -EINVAL);
    CHECK(cbt_wioc_check(CBT_IOC_NR_STATUS, nullptr, n, n) == -EINVAL);
    CHECK(cbt_wioc_check(99, &st, n, n) == -ENOTTY);
    st.hdr.version = CBT_IOCTL_VERSION + 1;
    CHECK(cbt_wioc_check(CBT_IOC_NR_STATUS, &st, n, n) == -EINVAL);
    st.hdr.version = CBT_IOCTL_VERSION;
    st.hdr.size = n + 8; // a newer, bigger struct
    CHECK(cbt_wioc_check(CBT_IOC_NR_STATUS, &st, n + 8, n + 8) == -EINVAL);
}

TEST_CASE("a user address in buf is refused: Windows data follows the struct", "[wfilter][wioctl]")
{
    std::vector<uint8_t> b(sizeof(struct cbt_ioc_get) + 4096);
    auto *g = reinterpret_cast<struct cbt_ioc_get *>(b.data());
    g->hdr.version = CBT_IOCTL_VERSION;
    g->hdr.size = sizeof(*g);
    CHECK(cbt_wioc_check(CBT_IOC_NR_GET, g, sizeof(*g), (uint32_t)b.size()) == 0);
    g->buf = 0x7fff0000;
    CHECK(cbt_wioc_check(CBT_IOC_NR_GET, g, sizeof(*g), (uint32_t)b.size()) == -EINVAL);
    CHECK(cbt_wioc_has_tail(CBT_IOC_NR_GET));
    CHECK(cbt_wioc_has_tail(CBT_IOC_NR_LIST));
    CHECK(cbt_wioc_has_tail(CBT_IOC_NR_BITMAP_READ));
    CHECK_FALSE(cbt_wioc_has_tail(CBT_IOC_NR_STATUS));
}

TEST_CASE("struct sizes match include/cbtrep/ioctl.h for every request", "[wfilter][wioctl]")
{
    CHECK(cbt_wioc_struct_size(CBT_IOC_NR_ATTACH) == 600);
    CHECK(cbt_wioc_struct_size(CBT_IOC_NR_STATUS) == 248);
    CHECK(cbt_wioc_struct_size(CBT_IOC_NR_TAG) == 728);
    CHECK(cbt_wioc_struct_size(CBT_IOC_NR_BITMAP_READ) == 144);
    CHECK(cbt_wioc_struct_size(CBT_IOC_NR_RESYNC) == 64);
    CHECK(cbt_wioc_struct_size(-1) == 0);
    CHECK(cbt_wioc_struct_size(CBT_IOC_NR_RESYNC + 1) == 0);
    // Every request below the last has a struct: none was left out of the table.
    for (int nr = CBT_IOC_NR_VERSION; nr <= CBT_IOC_NR_RESYNC; nr++)
        CHECK(cbt_wioc_struct_size(nr) != 0);
    CHECK_FALSE(cbt_wioc_has_tail(CBT_IOC_NR_RESYNC));
}

TEST_CASE("errno values map to distinct NTSTATUS codes", "[wfilter][wioctl]")
{
    CHECK(cbt_wio_errno_to_status(0) == CBT_STATUS_SUCCESS);
    CHECK(cbt_wio_errno_to_status(-EINVAL) == CBT_STATUS_INVALID_PARAMETER);
    CHECK(cbt_wio_errno_to_status(EINVAL) == CBT_STATUS_INVALID_PARAMETER);
    CHECK(cbt_wio_errno_to_status(-ENOENT) == CBT_STATUS_OBJECT_NAME_NOT_FOUND);
    CHECK(cbt_wio_errno_to_status(-EEXIST) == CBT_STATUS_OBJECT_NAME_COLLISION);
    CHECK(cbt_wio_errno_to_status(-ENOSPC) == CBT_STATUS_BUFFER_OVERFLOW);
    CHECK(cbt_wio_errno_to_status(-EAGAIN) == CBT_STATUS_NO_MORE_ENTRIES);
    CHECK(cbt_wio_errno_to_status(-116) == CBT_STATUS_INVALID_DEVICE_STATE); // ESTALE
    CHECK(cbt_wio_errno_to_status(-EBUSY) == CBT_STATUS_DEVICE_BUSY);
    CHECK(cbt_wio_errno_to_status(-ETIMEDOUT) == CBT_STATUS_IO_TIMEOUT);
    CHECK(cbt_wio_errno_to_status(-ENOMEM) == CBT_STATUS_INSUFFICIENT_RESOURCES);
    CHECK(cbt_wio_errno_to_status(-ENOTTY) == CBT_STATUS_INVALID_DEVICE_REQUEST);
    CHECK(cbt_wio_errno_to_status(-12345) == CBT_STATUS_UNSUCCESSFUL);
    // ENOSPC must stay a warning (high bits 10): the struct with bytes_needed is copied back.
    CHECK((CBT_STATUS_BUFFER_OVERFLOW >> 30) == 2);
}
