// Shared by the tests that drive a target Applier directly: one replica "r1" of a given
// size in a scratch directory, opened with a given staging buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "target/applier.h"
#include "target_fixture.h"

namespace target_test
{

struct ApplierFixture {
    TempDir dir;
    cbtrep::target::ReplicaSpec spec;
    size_t stage_bytes;

    ApplierFixture(uint64_t replica_bytes, size_t stage) : stage_bytes(stage)
    {
        spec.name = "r1";
        spec.path = dir / "r1.img";
        spec.create_bytes = replica_bytes;
        spec.allowed_clients = {"*"};
    }
    std::unique_ptr<cbtrep::target::Applier> open()
    {
        auto a = std::make_unique<cbtrep::target::Applier>(spec, dir.path.string(), stage_bytes);
        a->open();
        return a;
    }
    std::vector<uint8_t> image() { return slurp(spec.path); }
};

} // namespace target_test
