// cbtrep: the operator's command. `cbtrep SUBCOMMAND ARGS...` runs
//   - cbtrep::cli::cmd_<name>(argc, argv) from tools/cbtrep/cmd_<name>.cc (argv[0] is the
//     subcommand name), when that file is part of the build, or
//   - the program cbtrep-<name> next to this binary or on PATH (e.g. cbtrep-certs),
// so subcommands are added by adding a file (and a line to the table below).
#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <climits>
#include <unistd.h>

namespace cbtrep::cli
{
// Weak: a subcommand whose cmd_<name>.cc is not built is simply absent.
[[gnu::weak]] int cmd_status(int argc, char **argv);
[[gnu::weak]] int cmd_resync(int argc, char **argv);
[[gnu::weak]] int cmd_verify(int argc, char **argv);
[[gnu::weak]] int cmd_certs(int argc, char **argv);
[[gnu::weak]] int cmd_points(int argc, char **argv);
[[gnu::weak]] int cmd_failover(int argc, char **argv);
[[gnu::weak]] int cmd_reprotect(int argc, char **argv);
[[gnu::weak]] int cmd_failback(int argc, char **argv);
[[gnu::weak]] int cmd_tag(int argc, char **argv);
} // namespace cbtrep::cli

namespace
{

struct Command {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
};

const std::vector<Command> &commands()
{
    using namespace cbtrep::cli;
    static const std::vector<Command> table = {
        {"status", cmd_status, "replication state of each device (cbtrepd's status files)"},
        {"certs", cmd_certs, "create a CA, server and client certificates (cbtrep certs init)"},
        {"resync", cmd_resync, "make a replica equal to its source by block checksums"},
        {"verify", cmd_verify, "compare a replica with its source, read-only"},
        {"points", cmd_points, "recovery points of a replica: list, roll back (target machine)"},
        {"failover", cmd_failover, "test failover: export a point over NBD (target machine)"},
        {"reprotect", cmd_reprotect, "protect a failed-over replica back to the original site"},
        {"failback", cmd_failback, "hand a reverse-protected replica's role back (failback)"},
        {"tag", cmd_tag, "cut a consistency point on tracked devices (source machine)"},
    };
    return table;
}

std::string self_dir()
{
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0)
        return {};
    std::string p(buf, size_t(n));
    return p.substr(0, p.rfind('/'));
}

int usage(int code)
{
    std::ostream &os = code ? std::cerr : std::cout;
    os << "usage: cbtrep SUBCOMMAND [ARGS...]\n\nsubcommands:\n";
    for (const Command &c : commands())
        os << "  " << c.name << std::string(10 - std::strlen(c.name), ' ') << c.summary << "\n";
    os << "\n`cbtrep SUBCOMMAND --help` describes one.\n";
    return code;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(2);
    std::string sub = argv[1];
    if (sub == "--help" || sub == "-h" || sub == "help")
        return usage(0);
    for (const Command &c : commands())
        if (sub == c.name && c.fn)
            return c.fn(argc - 1, argv + 1);
    // Not linked in: a helper program cbtrep-<sub> next to us, then on PATH.
    std::string prog = "cbtrep-" + sub;
    std::string local = self_dir() + "/" + prog;
    std::vector<char *> args;
    args.push_back(prog.data());
    for (int i = 2; i < argc; i++)
        args.push_back(argv[i]);
    args.push_back(nullptr);
    if (::access(local.c_str(), X_OK) == 0)
        ::execv(local.c_str(), args.data());
    ::execvp(prog.c_str(), args.data());
    if (errno == ENOENT) {
        std::cerr << "cbtrep: unknown subcommand '" << sub << "'\n";
        return usage(2);
    }
    std::cerr << "cbtrep: cannot run " << prog << ": " << std::strerror(errno) << "\n";
    return 2;
}
