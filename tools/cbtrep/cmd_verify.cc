// `cbtrep verify SOURCE (--replica-file PATH | --target HOST:PORT/REPLICA ...)`: read-only
// comparison; prints the differing ranges (merged) and a summary. A mismatch is re-read on
// both sides before it is reported, so a live source does not produce false alarms.
// Exit status: 0 identical, 1 differences found, 2 error, 3 interrupted.
#include "cmd_resync.h"

namespace cbtrep::cli
{

int cmd_verify(int argc, char **argv)
{
    return run_resync_command(argc, argv, true);
}

} // namespace cbtrep::cli
