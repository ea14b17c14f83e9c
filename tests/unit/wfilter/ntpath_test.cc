// ATTACH's metadata path -> NT path: what ZwCreateFile will be asked to open.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

extern "C" {
#include "lib/ntpath.h"
}

static std::string nt(const std::string &in, size_t cap = 300)
{
    std::vector<char> buf(in.begin(), in.end());
    buf.resize(256, '\0');
    std::vector<uint16_t> out(cap, 0xffff);
    size_t n = cbt_meta_nt_path(buf.data(), buf.size(), out.data(), out.size());
    if (!n)
        return "<refused>";
    REQUIRE(out[n] == 0);
    return std::string(out.begin(), out.begin() + (long)n);
}

TEST_CASE("drive paths get the \\??\\ prefix, NT paths stay", "[wfilter][ntpath]")
{
    CHECK(nt("D:\\cbtrep\\disk0.meta") == "\\??\\D:\\cbtrep\\disk0.meta");
    CHECK(nt("e:/cbtrep/disk0.meta") == "\\??\\e:\\cbtrep\\disk0.meta");
    CHECK(nt("\\??\\D:\\m") == "\\??\\D:\\m");
    CHECK(nt("\\Device\\HarddiskVolume3\\m") == "\\Device\\HarddiskVolume3\\m");
}

TEST_CASE("relative, network, parent and odd paths are refused", "[wfilter][ntpath]")
{
    CHECK(nt("") == "<refused>");
    CHECK(nt("disk0.meta") == "<refused>");
    CHECK(nt("D:disk0.meta") == "<refused>");
    CHECK(nt("\\\\server\\share\\m") == "<refused>");
    CHECK(nt("D:\\a\\..\\b") == "<refused>");
    CHECK(nt("D:\\a\\..") == "<refused>");
    CHECK(nt("D:\\a\\..b") == "\\??\\D:\\a\\..b"); // a name, not a parent
    CHECK(nt("D:\\a\tb") == "<refused>");
    CHECK(nt("D:\\caf\xc3\xa9") == "<refused>");
}

TEST_CASE("unterminated input and small output are refused", "[wfilter][ntpath]")
{
    std::vector<char> full(16, 'a');
    full[0] = 'D', full[1] = ':', full[2] = '\\';
    std::vector<uint16_t> out(64);
    CHECK(cbt_meta_nt_path(full.data(), full.size(), out.data(), out.size()) == 0);
    CHECK(nt("D:\\abc", 8) == "<refused>"); // needs 4 + 6 + 1 units
    CHECK(nt("D:\\abc", 11) == "\\??\\D:\\abc");
}
