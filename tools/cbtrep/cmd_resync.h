// `cbtrep resync` and `cbtrep verify` (docs/resync.md). Both take the same arguments except
// that verify never writes; argv[0] is the subcommand name.
#pragma once

namespace cbtrep::cli
{

int cmd_resync(int argc, char **argv);
int cmd_verify(int argc, char **argv);

// The shared implementation: verify == true for `cbtrep verify`.
int run_resync_command(int argc, char **argv, bool verify);

} // namespace cbtrep::cli
