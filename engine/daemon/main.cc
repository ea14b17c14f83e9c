// cbtrepd: the replication daemon. One replicator thread per configured device (or only
// --device NAME, as the cbtrepd@NAME systemd unit runs it), a status writer and an optional
// Prometheus endpoint. Exit codes: docs/engine.md ("Exit codes").
#include <atomic>
#include <csignal>
#include <cstring>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "common/log.h"
#include "config/config.h"
#include "daemon/metrics.h"
#include "daemon/point_timer.h"
#include "daemon/replicator.h"
#include "daemon/status.h"

using namespace cbtrep;

namespace
{

std::atomic<bool> g_stop{false};

void on_signal(int)
{
    g_stop = true;
}

int usage(const char *argv0, int code)
{
    std::cerr << "usage: " << argv0
              << " --config FILE [--device NAME] [--log-level debug|info|warn|error]\n"
                 "  Replicates each configured device to its target (docs/engine.md).\n"
                 "  --device NAME   only this device (systemd: cbtrepd@NAME.service)\n"
                 "  --check         validate the configuration and exit\n";
    return code;
}

LogLevel level_of(const std::string &s)
{
    if (s == "debug")
        return LogLevel::debug;
    if (s == "warn")
        return LogLevel::warn;
    if (s == "error")
        return LogLevel::error;
    return LogLevel::info;
}

} // namespace

int main(int argc, char **argv)
{
    std::string config_path, only, level;
    bool check = false;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::cerr << "cbtrepd: " << a << " needs a value\n";
                std::exit(daemon::exit_config);
            }
            return argv[++i];
        };
        if (a == "--config" || a == "-c")
            config_path = value();
        else if (a == "--device")
            only = value();
        else if (a == "--log-level")
            level = value();
        else if (a == "--check")
            check = true;
        else if (a == "--help" || a == "-h")
            return usage(argv[0], 0);
        else {
            std::cerr << "cbtrepd: unknown argument '" << a << "'\n";
            return usage(argv[0], daemon::exit_config);
        }
    }
    if (config_path.empty())
        return usage(argv[0], daemon::exit_config);

    log_set_tag("cbtrepd");
    config::Config cfg;
    try {
        cfg = config::load(config_path);
    } catch (const config::ConfigError &e) {
        log_error(e.what());
        return daemon::exit_config;
    }
    log_set_level(level_of(level.empty() ? cfg.log_level : level));
    std::vector<const config::DeviceConfig *> devices;
    for (const auto &d : cfg.devices)
        if (only.empty() || d.name == only)
            devices.push_back(&d);
    if (devices.empty()) {
        log_error(config_path, ": no device named '", only, "'");
        return daemon::exit_config;
    }
    if (check) {
        std::cout << config_path << ": ok (" << devices.size() << " device(s))\n";
        return 0;
    }

    struct sigaction sa {
    };
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    daemon::StatusBoard board(cfg.status_dir);
    std::unique_ptr<daemon::MetricsServer> metrics;
    if (cfg.metrics_port) {
        try {
            metrics = std::make_unique<daemon::MetricsServer>(board, cfg.metrics_listen,
                                                              cfg.metrics_port);
            log_info("metrics on http://", cfg.metrics_listen, ":", metrics->port(), "/metrics");
        } catch (const std::exception &e) {
            log_error(e.what());
            return daemon::exit_config;
        }
    }

    std::atomic<int> worst{0};
    std::atomic<size_t> running{devices.size()};
    std::vector<std::thread> threads;
    for (const auto *d : devices)
        threads.emplace_back([&, d] {
            daemon::Replicator r(cfg, *d, board, g_stop);
            // Timer points run beside the replicator and stop with it (point_timer.h).
            auto timer = daemon::make_point_timer(*d, board);
            if (timer)
                timer->start(g_stop);
            int rc = r.run();
            timer.reset();
            int cur = worst.load();
            while (rc > cur && !worst.compare_exchange_weak(cur, rc)) {
            }
            --running;
        });
    // Publish status once a second until every replicator has returned.
    while (running > 0) {
        board.publish();
        for (int i = 0; i < 10 && running > 0; i++)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (auto &t : threads)
        t.join();
    board.publish();
    log_info("exiting with code ", worst.load());
    return worst.load();
}
