// The replica's durable progress: last applied seq and batch, last consistent point, last
// tag, and the identities it is bound to. Replaced atomically, so a crash leaves either the
// old or the new record, never a torn one; a record that fails its CRC stops the replica
// with a clear message instead of silently restarting from zero.
#pragma once

#include <string>

#include <cbtrep/replica_store.h>

namespace cbtrep::target
{

class StateFile
{
  public:
    explicit StateFile(std::string path) : path_(std::move(path)) {}
    const std::string &path() const noexcept { return path_; }
    // Loads the record; false when the file does not exist. Throws when it is corrupt.
    bool load(StateRecord &out) const;
    // Writes the record (CRC filled in) to a temporary file, syncs it, renames it over the
    // old one and syncs the directory.
    void save(StateRecord &rec) const;

  private:
    std::string path_;
};

// A fresh record with a random replica id.
StateRecord new_state(uint64_t replica_bytes);

} // namespace cbtrep::target
