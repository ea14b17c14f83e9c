#include "source.h"

#include <stdexcept>

namespace cbtrep::source
{

// Not pure: a wrapping source (the spool) compiles before it forwards these, and says so
// loudly if the daemon ever relies on the missing forward.
ResyncReply Source::require_resync(uint32_t reason)
{
    throw std::logic_error(describe() + ": cannot set resync-required (reason " +
                           cbt_reason_str(reason) + "): not supported by this source");
}

ResyncReply Source::resync_done(uint64_t generation)
{
    throw std::logic_error(describe() + ": cannot report a resync done as of generation " +
                           std::to_string(generation) + ": not supported by this source");
}

} // namespace cbtrep::source
