// Table-driven malformed-header checks: each case breaks one field of a good header and
// names the error the decoder must give. The caller's decode re-seals the header first, so
// the check under test, not the CRC, is what rejects it.
#pragma once

#include <catch2/catch.hpp>

#include <initializer_list>

template <typename Hdr> struct FieldCase {
    const char *what;       // the section name: which field, broken how
    void (*corrupt)(Hdr &); // breaks a copy of the good header
    int err;                // the error the decoder must report
};

// Runs every case on a fresh copy of good, each in its own section, so a failure names
// the field and the other cases still run.
template <typename Hdr, typename Decode>
void check_field_cases(const Hdr &good, std::initializer_list<FieldCase<Hdr>> cases, Decode decode)
{
    for (const FieldCase<Hdr> &c : cases) {
        DYNAMIC_SECTION(c.what)
        {
            Hdr h = good;
            c.corrupt(h);
            REQUIRE(decode(h) == c.err);
        }
    }
}
