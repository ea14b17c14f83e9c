// The INF's registry edits: install appends "cbtrep" to the disk class UpperFilters,
// uninstall deletes only that string, nothing ever overwrites or deletes the whole value.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace
{

const char *disk_class =
    "system\\currentcontrolset\\control\\class\\{4d36e967-e325-11ce-bfc1-08002be10318}";

std::string lower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

std::string trim(const std::string &s)
{
    size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
    return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

std::vector<std::string> split(const std::string &s, char sep)
{
    std::vector<std::string> out;
    std::string cur;
    std::istringstream in(s);
    while (std::getline(in, cur, sep))
        out.push_back(trim(cur));
    return out;
}

// section name (lower case) -> lines without comments
std::map<std::string, std::vector<std::string>> load_inf()
{
    std::ifstream f(CBT_INF_PATH);
    REQUIRE(f.good());
    std::map<std::string, std::vector<std::string>> secs;
    std::string line, cur;
    while (std::getline(f, line)) {
        auto semi = line.find(';');
        if (semi != std::string::npos)
            line = line.substr(0, semi);
        line = trim(line);
        if (line.empty())
            continue;
        if (line.front() == '[') {
            cur = lower(line.substr(1, line.find(']') - 1));
            secs[cur];
            continue;
        }
        secs[cur].push_back(line);
    }
    return secs;
}

std::string directive(const std::vector<std::string> &sec, const std::string &key)
{
    for (auto &l : sec) {
        auto eq = l.find('=');
        if (eq != std::string::npos && lower(trim(l.substr(0, eq))) == lower(key))
            return trim(l.substr(eq + 1));
    }
    return "";
}

// Every registry line (of any AddReg/DelReg section) touching the disk class UpperFilters.
struct RegLine {
    std::string section;
    unsigned long flags;
    std::string data;
};

std::vector<RegLine> upper_filter_lines(const std::map<std::string, std::vector<std::string>> &secs)
{
    std::vector<RegLine> out;
    for (auto &[name, lines] : secs)
        for (auto &l : lines) {
            auto f = split(l, ',');
            if (f.size() >= 3 && lower(f[0]) == "hklm" && lower(f[1]) == disk_class &&
                lower(f[2]) == "upperfilters")
                out.push_back({name, f.size() > 3 ? std::stoul(f[3], nullptr, 0) : 0,
                               f.size() > 4 ? f[4] : ""});
        }
    return out;
}

} // namespace

TEST_CASE("INF install appends cbtrep to the disk class UpperFilters, never overwrites",
          "[wfilter][inf]")
{
    auto secs = load_inf();
    auto install = lower(directive(secs["defaultinstall.ntamd64"], "AddReg"));
    REQUIRE(!install.empty());
    bool added = false;
    for (auto &l : upper_filter_lines(secs)) {
        if (l.section != install)
            continue;
        CHECK(l.flags == 0x00010008); // FLG_ADDREG_TYPE_MULTI_SZ | FLG_ADDREG_APPEND
        CHECK(l.data == "cbtrep");
        added = true;
    }
    CHECK(added);
}

TEST_CASE("INF uninstall deletes only the string cbtrep from UpperFilters", "[wfilter][inf]")
{
    auto secs = load_inf();
    auto uninstall = lower(directive(secs["defaultuninstall.ntamd64"], "DelReg"));
    REQUIRE(!uninstall.empty());
    bool removed = false;
    for (auto &l : upper_filter_lines(secs)) {
        if (l.section == uninstall) {
            CHECK(l.flags == 0x00018002); // FLG_DELREG_MULTI_SZ_DELSTRING
            CHECK(l.data == "cbtrep");
            removed = true;
        }
        // No line anywhere may replace or delete the whole value.
        CHECK((l.flags == 0x00010008 || l.flags == 0x00018002));
    }
    CHECK(removed);
    // The uninstall must not delete any other key or value of the disk class.
    for (auto &l : secs[uninstall]) {
        auto f = split(l, ',');
        REQUIRE(f.size() >= 5);
        CHECK(lower(f[2]) == "upperfilters");
    }
}

TEST_CASE("INF service is a boot-start kernel driver that keeps the bypass setting",
          "[wfilter][inf]")
{
    auto secs = load_inf();
    auto svc = split(directive(secs["defaultinstall.ntamd64.services"], "AddService"), ',');
    REQUIRE(svc.size() >= 3);
    CHECK(svc[0] == "cbtrep");
    auto &s = secs[lower(svc[2])];
    CHECK(directive(s, "ServiceType") == "1");
    CHECK(directive(s, "StartType") == "0");
    CHECK(directive(s, "ServiceBinary") == "%12%\\cbtrep.sys");
    auto params = lower(directive(s, "AddReg"));
    REQUIRE(!params.empty());
    bool bypass = false;
    for (auto &l : secs[params]) {
        auto f = split(l, ',');
        if (f.size() >= 5 && lower(f[2]) == "bypass") {
            CHECK(std::stoul(f[3], nullptr, 0) == 0x00010003); // DWORD | NOCLOBBER
            CHECK(f[4] == "0");
            bypass = true;
        }
    }
    CHECK(bypass);
}
