// The boot-option half of the bypass switch: CBTREP_BYPASS as a whole word.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

extern "C" {
#include "lib/bootopt.h"
}

static bool has(const std::string &opts, bool nul = true)
{
    std::vector<uint16_t> v(opts.begin(), opts.end());
    if (nul)
        v.push_back(0);
    return cbt_bootopt_has(v.data(), v.size(), CBT_BOOTOPT_BYPASS) != 0;
}

TEST_CASE("bypass word is found among the boot options", "[wfilter][bypass]")
{
    CHECK(has(" NOEXECUTE=OPTIN  CBTREP_BYPASS"));
    CHECK(has("CBTREP_BYPASS NOEXECUTE=OPTIN"));
    CHECK(has(" cbtrep_bypass", false));
    CHECK(has("/CBTREP_BYPASS"));
    CHECK(has("\tCBTREP_BYPASS\t"));
}

TEST_CASE("bypass word must stand alone", "[wfilter][bypass]")
{
    CHECK_FALSE(has(""));
    CHECK_FALSE(has(" NOEXECUTE=OPTIN  FVEBOOT=2619392"));
    CHECK_FALSE(has("CBTREP_BYPASSX"));
    CHECK_FALSE(has("XCBTREP_BYPASS"));
    CHECK_FALSE(has("CBTREP_BYPAS"));
    CHECK_FALSE(has("CBTREP_BYPASS=0"));
    CHECK(cbt_bootopt_has(nullptr, 10, CBT_BOOTOPT_BYPASS) == 0);
}

TEST_CASE("text after a NUL inside the value still counts as options", "[wfilter][bypass]")
{
    // REG_SZ data may carry its terminator mid-buffer; the word after it is not lost.
    std::vector<uint16_t> v = {'A', 0};
    for (char c : std::string("CBTREP_BYPASS"))
        v.push_back((uint16_t)c);
    CHECK(cbt_bootopt_has(v.data(), v.size(), CBT_BOOTOPT_BYPASS) == 1);
}
