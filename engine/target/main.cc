// cbtrep-target: the replica server. See docs/protocol.md and engine/target/config.h.
//
//   cbtrep-target --config FILE [--port-file FILE] [--check-config] [--verbose]
//
// Exit codes: 0 after SIGTERM/SIGINT, 1 configuration or start-up error.
#include <atomic>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>

#include "common/log.h"
#include "target/config.h"
#include "target/server.h"

namespace
{

std::atomic<bool> g_stop{false};

void on_signal(int)
{
    g_stop = true;
}

void usage()
{
    std::cerr << "usage: cbtrep-target --config FILE [--port-file FILE] [--check-config] "
                 "[--verbose]\n";
}

} // namespace

int main(int argc, char **argv)
{
    using namespace cbtrep;
    std::string config, port_file;
    bool check_only = false;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--config" && i + 1 < argc) {
            config = argv[++i];
        } else if (a == "--port-file" && i + 1 < argc) {
            port_file = argv[++i];
        } else if (a == "--check-config") {
            check_only = true;
        } else if (a == "--verbose") {
            log_set_level(LogLevel::debug);
        } else if (a == "--help" || a == "-h") {
            usage();
            return 0;
        } else {
            usage();
            return 1;
        }
    }
    if (config.empty()) {
        usage();
        return 1;
    }
    log_set_tag("cbtrep-target");
    try {
        target::TargetConfig cfg = target::load_config(config);
        if (check_only) {
            std::cout << config << ": ok (" << cfg.replicas.size() << " replicas)\n";
            return 0;
        }
        struct sigaction sa {
        };
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, nullptr);
        sigaction(SIGINT, &sa, nullptr);
        std::signal(SIGPIPE, SIG_IGN);

        target::Server server(std::move(cfg));
        server.start();
        if (!port_file.empty()) {
            std::string tmp = port_file + ".tmp";
            std::ofstream(tmp) << server.port() << "\n";
            std::rename(tmp.c_str(), port_file.c_str());
        }
        server.run(g_stop);
        log_info("stopped");
        return 0;
    } catch (const std::exception &e) {
        log_error(e.what());
        return 1;
    }
}
