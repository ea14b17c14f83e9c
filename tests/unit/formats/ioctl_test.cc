// Ioctl ABI: header checks, and request codes that encode the struct size on Linux so a
// tool built against another layout cannot issue a valid request.
#include <catch2/catch.hpp>

#include <cbtrep/ioctl.h>

#include <set>

TEST_CASE("ioctl header accepts only its own version and size", "[ioctl]")
{
    cbt_ioc_status st{};
    st.hdr = CBT_IOC_HDR_INIT(cbt_ioc_status);
    REQUIRE(cbt_ioc_hdr_check(&st.hdr, sizeof(st)) == CBT_FMT_OK);
    st.hdr.size -= 8;
    REQUIRE(cbt_ioc_hdr_check(&st.hdr, sizeof(st)) == CBT_FMT_BAD_LENGTH);
    st.hdr = CBT_IOC_HDR_INIT(cbt_ioc_status);
    st.hdr.version = CBT_IOCTL_VERSION + 1;
    REQUIRE(cbt_ioc_hdr_check(&st.hdr, sizeof(st)) == CBT_FMT_BAD_VERSION);
}

TEST_CASE("ioctl request codes are distinct and carry the struct size", "[ioctl]")
{
    std::set<unsigned long> codes = {
        CBT_IOC_VERSION, CBT_IOC_ATTACH,     CBT_IOC_DETACH,     CBT_IOC_STATUS,
        CBT_IOC_LIST,    CBT_IOC_GET,        CBT_IOC_COMMIT,     CBT_IOC_WAIT,
        CBT_IOC_TAG,     CBT_IOC_MARK_DIRTY, CBT_IOC_BITMAP_CUT, CBT_IOC_BITMAP_READ,
    };
    REQUIRE(codes.size() == 12);
    REQUIRE(_IOC_SIZE(CBT_IOC_ATTACH) == sizeof(cbt_ioc_attach));
    REQUIRE(_IOC_SIZE(CBT_IOC_TAG) == sizeof(cbt_ioc_tag));
    REQUIRE(_IOC_TYPE(CBT_IOC_GET) == CBT_IOC_MAGIC);
}
