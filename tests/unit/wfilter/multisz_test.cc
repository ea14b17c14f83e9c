// UpperFilters editing: cbtrep goes FIRST, leaves ONLY its own name, touches nothing else.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

extern "C" {
#include "lib/multisz.h"
}

namespace
{

// "a|b|" -> a\0b\0 (each '|' is a NUL), like a REG_MULTI_SZ value as stored.
std::vector<uint16_t> ms(const std::string &s)
{
    std::vector<uint16_t> v;
    for (char c : s)
        v.push_back(c == '|' ? 0 : (uint16_t)(unsigned char)c);
    return v;
}

std::string str(const std::vector<uint16_t> &v, size_t n)
{
    std::string s;
    for (size_t i = 0; i < n; i++)
        s += v[i] ? (char)v[i] : '|';
    return s;
}

std::string put_first(const std::string &in, const char *name = "cbtrep")
{
    auto v = ms(in);
    std::vector<uint16_t> out(cbt_multisz_prepend_cap(v.size(), name));
    size_t n = cbt_multisz_prepend(v.data(), v.size(), name, out.data(), out.size());
    REQUIRE(n > 0);
    return str(out, n);
}

std::string drop(const std::string &in, const char *name = "cbtrep")
{
    auto v = ms(in);
    std::vector<uint16_t> out(v.size() + 2);
    size_t n = cbt_multisz_remove(v.data(), v.size(), name, out.data(), out.size());
    REQUIRE(n > 0);
    return str(out, n);
}

} // namespace

TEST_CASE("install puts cbtrep first, before partmgr, keeping the others' order",
          "[wfilter][multisz]")
{
    CHECK(put_first("partmgr||") == "cbtrep|partmgr||");
    CHECK(put_first("EhStorClass|partmgr||") == "cbtrep|EhStorClass|partmgr||");
    CHECK(put_first("") == "cbtrep||");
    CHECK(put_first("||") == "cbtrep||");
}

TEST_CASE("install moves an existing cbtrep entry to the front without duplicating it",
          "[wfilter][multisz]")
{
    CHECK(put_first("partmgr|cbtrep||") == "cbtrep|partmgr||");
    CHECK(put_first("partmgr|CBTREP|foo|cbtrep||") == "cbtrep|partmgr|foo||");
    CHECK(put_first("cbtrep|partmgr||") == "cbtrep|partmgr||"); // idempotent
}

TEST_CASE("uninstall removes only cbtrep and keeps look-alike names", "[wfilter][multisz]")
{
    CHECK(drop("cbtrep|partmgr||") == "partmgr||");
    CHECK(drop("partmgr|CbtRep|EhStorClass||") == "partmgr|EhStorClass||");
    CHECK(drop("cbtrep2|xcbtrep|cbtre|partmgr||") == "cbtrep2|xcbtrep|cbtre|partmgr||");
    CHECK(drop("cbtrep||") == "||");
    CHECK(drop("partmgr||") == "partmgr||");
}

TEST_CASE("sloppy values are normalised, never misread", "[wfilter][multisz]")
{
    // Missing final terminators, empty entries in the middle.
    CHECK(drop("partmgr") == "partmgr||");
    CHECK(drop("partmgr||foo||") == "partmgr|foo||");
    CHECK(put_first("partmgr") == "cbtrep|partmgr||");
    auto v = ms("a||b|cbtrep");
    CHECK(cbt_multisz_count(v.data(), v.size()) == 3);
    CHECK(cbt_multisz_find(v.data(), v.size(), "cbtrep") == 2);
    CHECK(cbt_multisz_find(v.data(), v.size(), "CBTREP") == 2);
    CHECK(cbt_multisz_find(v.data(), v.size(), "partmgr") == -1);
}

TEST_CASE("edits refuse a too-small output buffer", "[wfilter][multisz]")
{
    auto v = ms("partmgr||");
    std::vector<uint16_t> out(8);
    CHECK(cbt_multisz_prepend(v.data(), v.size(), "cbtrep", out.data(), out.size()) == 0);
    std::vector<uint16_t> tiny(3);
    CHECK(cbt_multisz_remove(v.data(), v.size(), "cbtrep", tiny.data(), tiny.size()) == 0);
    CHECK(cbt_multisz_prepend(v.data(), v.size(), "", out.data(), out.size()) == 0);
}
