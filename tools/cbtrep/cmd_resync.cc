// `cbtrep resync SOURCE (--replica-file PATH | --target HOST:PORT/REPLICA ...)`: makes the
// replica equal to the source, sending only the differing 4 KiB leaves; resumable.
// Exit status: 0 done, 2 error, 3 interrupted (run the same command again to resume).
#include "cmd_resync.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "resync/local_peer.h"
#include "resync/progress.h"
#include "resync/remote_peer.h"
#include "resync/resync.h"

namespace cbtrep::cli
{

namespace
{

using namespace cbtrep::resync;

std::atomic<bool> g_stop{false};

void on_signal(int)
{
    // First signal: stop cleanly (checkpoint saved). Second: the default action.
    if (g_stop.exchange(true)) {
        std::signal(SIGINT, SIG_DFL);
        std::signal(SIGTERM, SIG_DFL);
    }
}

const char *usage_text = R"(usage:
  cbtrep resync SOURCE REPLICA-OPTIONS [OPTIONS]
  cbtrep verify SOURCE REPLICA-OPTIONS [OPTIONS]

Compares SOURCE (a device or image file) with its replica by fixed-offset hashes and
(resync) writes only the differing 4 KiB leaves to the replica, or (verify) reports them.

replica (one of):
  --replica-file PATH        the replica is a local file or device
  --target HOST:PORT/NAME    replica NAME served by cbtrep-target (TLS 1.3, mutual auth)
    --ca FILE --cert FILE --key FILE   PEM files of the CA and this client
    --server-name NAME       name the target's certificate must carry (default: HOST)

options:
  --strong                   SHA-256 instead of XXH3-128 (same as --hash sha256)
  --hash xxh3-128|sha256
  --region-size SIZE         default 16M
  --block-size SIZE          default 64K
  --leaf-size SIZE           default 4K (the unit of transfer)
  --window N                 regions in flight (default 8)
  --max-rate RATE            bytes/s read from the source plus sent (e.g. 100M); 0 = no limit
  --checkpoint FILE          resync position (default: in $CBTREP_STATE_DIR, /var/lib/cbtrep
                             or ~/.local/state/cbtrep); an interrupted resync resumes from it
  --no-checkpoint            always start from the beginning
  --resize                   (--replica-file, image files only) make the replica the source's size
  --no-recheck               (verify) report mismatches without reading them again
  --reader auto|io_uring|libaio|pread   I/O backend (default auto: the first that works)
  --direct, --no-direct      read with O_DIRECT, or through the page cache (default: O_DIRECT
                             for block devices, the page cache for image files)
  --json                     JSON progress events and summary on stdout, one per line
  --quiet                    no progress bar
  -v, --verbose              log what is read how, checkpoints, ...
SIZE and RATE take K, M, G, T suffixes (powers of 1024).
)";

[[noreturn]] void usage_error(const std::string &msg)
{
    throw std::invalid_argument(msg + " (see --help)");
}

uint64_t parse_size(const std::string &opt, const std::string &v)
{
    char *end = nullptr;
    errno = 0;
    unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (end == v.c_str() || errno || v[0] == '-')
        usage_error(opt + ": \"" + v + "\" is not a size");
    uint64_t mul = 1;
    std::string suffix(end);
    if (suffix == "" || suffix == "B")
        mul = 1;
    else if (suffix == "K" || suffix == "k" || suffix == "KiB")
        mul = 1ull << 10;
    else if (suffix == "M" || suffix == "MiB")
        mul = 1ull << 20;
    else if (suffix == "G" || suffix == "GiB")
        mul = 1ull << 30;
    else if (suffix == "T" || suffix == "TiB")
        mul = 1ull << 40;
    else
        usage_error(opt + ": unknown suffix \"" + suffix + "\" (K, M, G or T)");
    if (n > UINT64_MAX / mul)
        usage_error(opt + ": " + v + " is too large");
    return n * mul;
}

std::string state_dir()
{
    if (const char *d = std::getenv("CBTREP_STATE_DIR"); d && *d)
        return d;
    if (::access("/var/lib/cbtrep", W_OK) == 0 ||
        (::geteuid() == 0 && ::mkdir("/var/lib/cbtrep", 0755) == 0))
        return "/var/lib/cbtrep";
    const char *xdg = std::getenv("XDG_STATE_HOME");
    const char *home = std::getenv("HOME");
    std::string base =
        xdg && *xdg ? std::string(xdg) : std::string(home ? home : "/tmp") + "/.local/state";
    return base + "/cbtrep";
}

void mkdirs(const std::string &dir)
{
    for (size_t pos = 1; pos != std::string::npos;) {
        pos = dir.find('/', pos + 1);
        ::mkdir(dir.substr(0, pos).c_str(), 0755);
    }
}

// "resync-<source>--<replica>.json" with every character outside [A-Za-z0-9._-] as '_'.
std::string default_checkpoint(const std::string &source, const std::string &replica)
{
    std::string name = "resync-" + source + "--" + replica;
    for (char &c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_')
            c = '_';
    std::string dir = state_dir() + "/resync";
    mkdirs(dir);
    return dir + "/" + name + ".json";
}

struct Args {
    std::string source;
    std::string replica_file;
    std::string target;
    TargetOptions remote;
    Options opts;
    LocalPeerOptions local;
    std::string checkpoint;
    bool no_checkpoint = false;
    bool resize = false;
    bool json = false;
    bool quiet = false;
    bool verbose = false;
    bool help = false;
};

Args parse(int argc, char **argv, bool verify)
{
    Args a;
    std::vector<std::string> pos;
    for (int i = 1; i < argc; ++i) {
        std::string o = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                usage_error(o + " needs a value");
            return argv[++i];
        };
        if (o == "-h" || o == "--help")
            a.help = true;
        else if (o == "--replica-file")
            a.replica_file = value();
        else if (o == "--target")
            a.target = value();
        else if (o == "--ca")
            a.remote.tls.ca_file = value();
        else if (o == "--cert")
            a.remote.tls.cert_file = value();
        else if (o == "--key")
            a.remote.tls.key_file = value();
        else if (o == "--server-name")
            a.remote.tls.server_name = value();
        else if (o == "--strong")
            a.opts.geometry.hash = HashKind::sha256;
        else if (o == "--hash")
            a.opts.geometry.hash = parse_hash_kind(value());
        else if (o == "--region-size")
            a.opts.geometry.region_bytes = parse_size(o, value());
        else if (o == "--block-size")
            a.opts.geometry.block_bytes =
                uint32_t(std::min<uint64_t>(parse_size(o, value()), 1u << 31));
        else if (o == "--leaf-size")
            a.opts.geometry.leaf_bytes =
                uint32_t(std::min<uint64_t>(parse_size(o, value()), 1u << 31));
        else if (o == "--window")
            a.opts.window = uint32_t(std::min<uint64_t>(parse_size(o, value()), 1u << 20));
        else if (o == "--max-rate")
            a.opts.max_rate = parse_size(o, value());
        else if (o == "--checkpoint" && !verify)
            a.checkpoint = value();
        else if (o == "--no-checkpoint" && !verify)
            a.no_checkpoint = true;
        else if (o == "--resize" && !verify)
            a.resize = true;
        else if (o == "--no-recheck" && verify)
            a.opts.recheck = false;
        else if (o == "--reader")
            a.opts.reader.backend = value();
        else if (o == "--no-direct")
            a.opts.direct = Direct::off;
        else if (o == "--direct")
            a.opts.direct = Direct::on;
        else if (o == "--json")
            a.json = true;
        else if (o == "--quiet" || o == "-q")
            a.quiet = true;
        else if (o == "--verbose" || o == "-v")
            a.verbose = true;
        else if (!o.empty() && o[0] == '-')
            usage_error("unknown option " + o);
        else
            pos.push_back(o);
    }
    if (a.help)
        return a;
    if (pos.size() != 1)
        usage_error("expected exactly one SOURCE");
    a.source = pos[0];
    if (a.replica_file.empty() == a.target.empty())
        usage_error("name the replica with exactly one of --replica-file or --target");
    if (a.resize && a.replica_file.empty())
        usage_error("--resize only applies to --replica-file");
    validate(a.opts.geometry);
    a.opts.verify = verify;
    a.local.read_only = verify;
    a.local.reader = a.opts.reader;
    a.local.direct = a.opts.direct;
    return a;
}

} // namespace

int run_resync_command(int argc, char **argv, bool verify)
{
    const char *cmd = verify ? "verify" : "resync";
    Args a;
    try {
        a = parse(argc, argv, verify);
    } catch (const std::exception &e) {
        std::cerr << "cbtrep " << cmd << ": " << e.what() << "\n";
        return 2;
    }
    if (a.help) {
        std::cout << usage_text;
        return 0;
    }
    bool tty = ::isatty(STDERR_FILENO) && !a.quiet && !a.json;
    bool bar_drawn = false;
    auto clear_bar = [&] {
        if (bar_drawn) {
            std::fputs("\r\033[K", stderr);
            bar_drawn = false;
        }
    };
    a.opts.on_note = [&](const std::string &n) {
        if (!a.verbose)
            return;
        clear_bar();
        std::cerr << "cbtrep " << cmd << ": " << n << "\n";
    };
    a.opts.progress_interval = std::chrono::milliseconds(a.json ? 1000 : 200);
    a.opts.on_progress = [&](const Stats &s) {
        if (a.json) {
            std::cout << progress_json(s) << std::endl;
        } else if (tty) {
            std::fprintf(stderr, "\r\033[K%s", progress_line(s).c_str());
            bar_drawn = true;
        }
    };
    a.opts.should_stop = [] { return g_stop.load(); };
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    try {
        std::unique_ptr<ReplicaPeer> peer;
        std::string replica_id;
        if (!a.replica_file.empty()) {
            a.local.resize = a.resize;
            peer = std::make_unique<LocalPeer>(a.replica_file, a.local);
            replica_id = "file:" + a.replica_file;
        } else {
            a.remote.read_only = verify;
            a.remote.source_name = a.source;
            peer = make_remote_peer(a.target, a.remote);
            replica_id = a.target;
        }
        if (!verify && !a.no_checkpoint)
            a.opts.checkpoint =
                a.checkpoint.empty() ? default_checkpoint(a.source, replica_id) : a.checkpoint;
        if (a.verbose && !a.opts.checkpoint.empty())
            std::cerr << "cbtrep " << cmd << ": checkpoint " << a.opts.checkpoint << "\n";

        Result r = run(a.source, *peer, a.opts);
        clear_bar();
        if (a.json) {
            std::cout << summary_json(r, verify) << std::endl;
        } else {
            if (verify)
                for (const Range &x : r.differing)
                    std::cout << "differs " << x.offset << " " << x.length << " ("
                              << human_bytes(double(x.length)) << ")\n";
            std::cerr << summary_text(r.stats, verify);
            if (!r.complete)
                std::cerr << "cbtrep " << cmd << ": interrupted at byte " << r.stats.done_bytes
                          << (verify ? "" : "; run the same command again to resume") << "\n";
            else if (verify)
                std::cerr << (r.differing.empty() ? "source and replica are identical\n"
                                                  : "source and replica DIFFER\n");
            else
                std::cerr << "replica is now equal to the source\n";
        }
        if (!r.complete)
            return 3;
        return verify && !r.differing.empty() ? 1 : 0;
    } catch (const std::exception &e) {
        clear_bar();
        if (a.json)
            std::cout << error_json(e.what()) << std::endl;
        std::cerr << "cbtrep " << cmd << ": " << e.what() << "\n";
        return 2;
    }
}

int cmd_resync(int argc, char **argv)
{
    return run_resync_command(argc, argv, false);
}

} // namespace cbtrep::cli
