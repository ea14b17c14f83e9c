#include "cmd_tag_wait.h"

#include <chrono>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "daemon/status.h"

namespace cbtrep::cli
{

namespace
{

using clock = std::chrono::steady_clock;

std::optional<daemon::DeviceStatus> read_status(const std::string &dir, const std::string &name)
{
    std::ifstream in(dir + "/" + name + ".json");
    if (!in)
        return std::nullopt;
    try {
        return daemon::from_json(nlohmann::json::parse(in));
    } catch (const std::exception &) {
        return std::nullopt; // being replaced (temp file + rename): read it again next turn
    }
}

int64_t unix_ns()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

} // namespace

int wait_tag_replicated(const TagWait &w)
{
    const auto deadline = clock::now() + w.timeout;
    auto next_note = clock::now() + std::chrono::seconds(5);
    std::vector<bool> done(w.devices.size(), false);
    for (;;) {
        size_t left = 0;
        std::string waiting;
        for (size_t i = 0; i < w.devices.size(); i++) {
            if (done[i])
                continue;
            const std::string &dev = w.devices[i];
            auto s = read_status(w.status_dir, dev);
            if (s && s->last_tag_id == w.tag_id && s->last_tag_name == w.tag_name) {
                done[i] = true;
                std::cerr << "cbtrep tag: " << dev << ": '" << w.tag_name << "' (seq " << w.seqs[i]
                          << ") is durable on " << s->target << "\n";
                continue;
            }
            ++left;
            if (!s) {
                waiting += " " + dev + " (no status in " + w.status_dir + ")";
                continue;
            }
            if (s->state == "error") {
                std::cerr << "cbtrep tag: " << dev << ": cbtrepd stopped with an error ("
                          << s->reason << "): the tag will not be replicated\n";
                return 1;
            }
            // Applied but not as a consistency point: the batch (or one before it since the
            // last DATA-mode tag) held data read from the disk, newer than the journal.
            if (s->applied_seq >= w.seqs[i] && s->last_tag_id != w.tag_id) {
                std::cerr << "cbtrep tag: " << dev << ": the replica applied seq " << s->applied_seq
                          << ", past the tag (seq " << w.seqs[i]
                          << "), but is not consistent there: data read from the disk "
                             "(META/BITMAP mode, a resync) came before it. Cut another tag\n";
                return 1;
            }
            bool stale = s->updated_unix_ns && unix_ns() - s->updated_unix_ns > 10'000'000'000;
            waiting += " " + dev + " (" + s->state + ", applied seq " +
                       std::to_string(s->applied_seq) + " of " + std::to_string(w.seqs[i]) +
                       (stale ? "; status not refreshed for 10 s: is cbtrepd running?" : "") + ")";
        }
        if (!left)
            return 0;
        if (clock::now() >= deadline) {
            std::cerr << "cbtrep tag: '" << w.tag_name << "' not replicated within "
                      << w.timeout.count() << " s:" << waiting << "\n";
            return 1;
        }
        if (clock::now() >= next_note) {
            std::cerr << "cbtrep tag: waiting for '" << w.tag_name << "':" << waiting << "\n";
            next_note = clock::now() + std::chrono::seconds(5);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
}

} // namespace cbtrep::cli
