#include "status.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/log.h"

namespace cbtrep::daemon
{

using nlohmann::json;

json to_json(const DeviceStatus &s)
{
    return json{
        {"name", s.name},
        {"state", s.state},
        {"reason", s.reason},
        {"next_attempt_unix", s.next_attempt_unix},
        {"source", s.source},
        {"target", s.target},
        {"reader", s.reader},
        {"tracker",
         {{"mode", s.tracker_mode},
          {"mode_reason", s.tracker_mode_reason},
          {"state", s.tracker_state},
          {"state_reason", s.tracker_state_reason}}},
        {"lag_seconds", s.lag_seconds},
        {"lag_bytes", s.lag_bytes},
        {"backlog_records", s.backlog_records},
        {"applied_seq", s.applied_seq},
        {"committed_batches", s.committed_batches},
        {"bytes_sent", s.bytes_sent},
        {"bytes_replicated", s.bytes_replicated},
        {"throughput_bps", s.throughput_bps},
        {"reconnects", s.reconnects},
        {"initial_sync",
         {{"done_bytes", s.initial_sync_done_bytes}, {"total_bytes", s.initial_sync_total_bytes}}},
        {"last_consistency_point",
         {{"tag", s.last_tag_name},
          {"tag_id", s.last_tag_id},
          {"seq", s.last_tag_seq},
          {"time_unix_ns", s.last_tag_unix_ns}}},
        {"spool",
         {{"enabled", s.spool.enabled},
          {"state", s.spool.state},
          {"reason", s.spool.reason},
          {"bytes", s.spool.bytes},
          {"limit_bytes", s.spool.limit_bytes},
          {"segments", s.spool.segments},
          {"batches", s.spool.batches},
          {"oldest_unsent",
           {{"seq", s.spool.oldest_unsent_seq}, {"time_unix_ns", s.spool.oldest_unsent_unix_ns}}},
          {"drops", s.spool.drops}}},
        {"resync",
         {{"phase", s.resync.phase},
          {"reason", s.resync.reason},
          {"generation", s.resync.generation},
          {"device_bytes", s.resync.device_bytes},
          {"done_bytes", s.resync.done_bytes},
          {"compared_bytes", s.resync.compared_bytes},
          {"differing_bytes", s.resync.differing_bytes},
          {"sent_bytes", s.resync.sent_bytes},
          {"wire_bytes", s.resync.wire_bytes},
          {"rate_bytes_per_second", s.resync.rate_bps},
          {"eta_seconds", s.resync.eta_seconds},
          {"started_unix_ns", s.resync.started_unix_ns},
          {"finished_unix_ns", s.resync.finished_unix_ns},
          {"window_opens_unix", s.resync.window_opens_unix},
          {"completed", s.resync.completed},
          {"error", s.resync.error}}},
        {"point_timer",
         {{"enabled", s.point_timer.enabled},
          {"note", s.point_timer.note},
          {"crash_interval_s", s.point_timer.crash_interval_s},
          {"app_interval_s", s.point_timer.app_interval_s},
          {"last_kind", s.point_timer.last_kind},
          {"last_point_name", s.point_timer.last_point_name},
          {"last_tag_id", s.point_timer.last_tag_id},
          {"last_unix_ns", s.point_timer.last_unix_ns},
          {"next_crash_unix_ns", s.point_timer.next_crash_unix_ns},
          {"next_app_unix_ns", s.point_timer.next_app_unix_ns},
          {"taken", s.point_timer.taken},
          {"skipped", s.point_timer.skipped},
          {"skipping", s.point_timer.skipping}}},
        {"stage_seconds",
         {{"read", s.read_s},
          {"compress", s.compress_s},
          {"send", s.send_s},
          {"apply", s.apply_s}}},
        {"updated_unix_ns", s.updated_unix_ns},
    };
}

DeviceStatus from_json(const json &j)
{
    DeviceStatus s;
    auto get = [&](const json &o, const char *k, auto &dst) {
        if (o.contains(k) && !o.at(k).is_null())
            o.at(k).get_to(dst);
    };
    get(j, "name", s.name);
    get(j, "state", s.state);
    get(j, "reason", s.reason);
    get(j, "next_attempt_unix", s.next_attempt_unix);
    get(j, "source", s.source);
    get(j, "target", s.target);
    get(j, "reader", s.reader);
    if (j.contains("tracker")) {
        const json &t = j.at("tracker");
        get(t, "mode", s.tracker_mode);
        get(t, "mode_reason", s.tracker_mode_reason);
        get(t, "state", s.tracker_state);
        get(t, "state_reason", s.tracker_state_reason);
    }
    get(j, "lag_seconds", s.lag_seconds);
    get(j, "lag_bytes", s.lag_bytes);
    get(j, "backlog_records", s.backlog_records);
    get(j, "applied_seq", s.applied_seq);
    get(j, "committed_batches", s.committed_batches);
    get(j, "bytes_sent", s.bytes_sent);
    get(j, "bytes_replicated", s.bytes_replicated);
    get(j, "throughput_bps", s.throughput_bps);
    get(j, "reconnects", s.reconnects);
    if (j.contains("initial_sync")) {
        get(j.at("initial_sync"), "done_bytes", s.initial_sync_done_bytes);
        get(j.at("initial_sync"), "total_bytes", s.initial_sync_total_bytes);
    }
    if (j.contains("last_consistency_point")) {
        const json &c = j.at("last_consistency_point");
        get(c, "tag", s.last_tag_name);
        get(c, "tag_id", s.last_tag_id);
        get(c, "seq", s.last_tag_seq);
        get(c, "time_unix_ns", s.last_tag_unix_ns);
    }
    if (j.contains("point_timer")) {
        const json &p = j.at("point_timer");
        PointTimerStatus &t = s.point_timer;
        get(p, "enabled", t.enabled);
        get(p, "note", t.note);
        get(p, "crash_interval_s", t.crash_interval_s);
        get(p, "app_interval_s", t.app_interval_s);
        get(p, "last_kind", t.last_kind);
        get(p, "last_point_name", t.last_point_name);
        get(p, "last_tag_id", t.last_tag_id);
        get(p, "last_unix_ns", t.last_unix_ns);
        get(p, "next_crash_unix_ns", t.next_crash_unix_ns);
        get(p, "next_app_unix_ns", t.next_app_unix_ns);
        get(p, "taken", t.taken);
        get(p, "skipped", t.skipped);
        get(p, "skipping", t.skipping);
    }
    if (j.contains("spool")) {
        const json &sp = j.at("spool");
        get(sp, "enabled", s.spool.enabled);
        get(sp, "state", s.spool.state);
        get(sp, "reason", s.spool.reason);
        get(sp, "bytes", s.spool.bytes);
        get(sp, "limit_bytes", s.spool.limit_bytes);
        get(sp, "segments", s.spool.segments);
        get(sp, "batches", s.spool.batches);
        if (sp.contains("oldest_unsent")) {
            get(sp.at("oldest_unsent"), "seq", s.spool.oldest_unsent_seq);
            get(sp.at("oldest_unsent"), "time_unix_ns", s.spool.oldest_unsent_unix_ns);
        }
        get(sp, "drops", s.spool.drops);
    }
    if (j.contains("resync")) {
        const json &r = j.at("resync");
        get(r, "phase", s.resync.phase);
        get(r, "reason", s.resync.reason);
        get(r, "generation", s.resync.generation);
        get(r, "device_bytes", s.resync.device_bytes);
        get(r, "done_bytes", s.resync.done_bytes);
        get(r, "compared_bytes", s.resync.compared_bytes);
        get(r, "differing_bytes", s.resync.differing_bytes);
        get(r, "sent_bytes", s.resync.sent_bytes);
        get(r, "wire_bytes", s.resync.wire_bytes);
        get(r, "rate_bytes_per_second", s.resync.rate_bps);
        get(r, "eta_seconds", s.resync.eta_seconds);
        get(r, "started_unix_ns", s.resync.started_unix_ns);
        get(r, "finished_unix_ns", s.resync.finished_unix_ns);
        get(r, "window_opens_unix", s.resync.window_opens_unix);
        get(r, "completed", s.resync.completed);
        get(r, "error", s.resync.error);
    }
    if (j.contains("stage_seconds")) {
        const json &st = j.at("stage_seconds");
        get(st, "read", s.read_s);
        get(st, "compress", s.compress_s);
        get(st, "send", s.send_s);
        get(st, "apply", s.apply_s);
    }
    get(j, "updated_unix_ns", s.updated_unix_ns);
    return s;
}

void StatusBoard::publish() const
{
    if (dir_.empty())
        return;
    auto snap = snapshot();
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    for (const auto &[name, s] : snap) {
        std::string path = dir_ + "/" + name + ".json";
        std::string tmp = path + ".tmp";
        {
            std::ofstream out(tmp, std::ios::trunc);
            out << to_json(s).dump(2) << "\n";
            if (!out) {
                log_warn("status: cannot write ", tmp);
                continue;
            }
        }
        if (std::rename(tmp.c_str(), path.c_str()) != 0)
            log_warn("status: cannot rename ", tmp, " to ", path);
    }
}

std::string StatusBoard::prometheus() const
{
    auto snap = snapshot();
    std::ostringstream os;
    auto metric = [&](const char *name, const char *type, const char *help, auto value_of) {
        os << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
        for (const auto &[dev, s] : snap)
            os << name << "{device=\"" << dev << "\"} " << value_of(s) << "\n";
    };
    static const char *states[] = {"initial-sync", "replicating", "resync-required",
                                   "resyncing",    "retrying",    "error",
                                   "stopped",      "drained",     "starting"};
    os << "# HELP cbtrep_state 1 for the device's current replication state\n"
          "# TYPE cbtrep_state gauge\n";
    for (const auto &[dev, s] : snap)
        for (const char *st : states)
            os << "cbtrep_state{device=\"" << dev << "\",state=\"" << st << "\"} "
               << (s.state == st ? 1 : 0) << "\n";
    metric("cbtrep_lag_seconds", "gauge", "Age of the oldest change not yet durable on the replica",
           [](const DeviceStatus &s) { return s.lag_seconds; });
    metric("cbtrep_lag_bytes", "gauge", "Journal bytes not yet committed",
           [](const DeviceStatus &s) { return s.lag_bytes; });
    metric("cbtrep_backlog_records", "gauge", "Journal records not yet committed",
           [](const DeviceStatus &s) { return s.backlog_records; });
    metric("cbtrep_applied_seq", "gauge", "Last sequence number durable on the replica",
           [](const DeviceStatus &s) { return s.applied_seq; });
    metric("cbtrep_committed_batches_total", "counter", "Batches committed back to the tracker",
           [](const DeviceStatus &s) { return s.committed_batches; });
    metric("cbtrep_sent_bytes_total", "counter", "Payload bytes sent to the target",
           [](const DeviceStatus &s) { return s.bytes_sent; });
    metric("cbtrep_replicated_bytes_total", "counter", "Decoded bytes acknowledged by the target",
           [](const DeviceStatus &s) { return s.bytes_replicated; });
    metric("cbtrep_throughput_bytes_per_second", "gauge", "Recent replicated bytes per second",
           [](const DeviceStatus &s) { return s.throughput_bps; });
    metric("cbtrep_reconnects_total", "counter", "Connection attempts after a failure",
           [](const DeviceStatus &s) { return s.reconnects; });
    metric("cbtrep_resync_done_bytes", "gauge",
           "Automatic resync: position below which source == replica",
           [](const DeviceStatus &s) { return s.resync.done_bytes; });
    metric("cbtrep_resync_compared_bytes", "gauge", "Automatic resync: bytes compared by this run",
           [](const DeviceStatus &s) { return s.resync.compared_bytes; });
    metric("cbtrep_resync_sent_bytes", "gauge", "Automatic resync: bytes written to the replica",
           [](const DeviceStatus &s) { return s.resync.sent_bytes; });
    metric("cbtrep_resync_rate_bytes_per_second", "gauge", "Automatic resync: compare rate",
           [](const DeviceStatus &s) { return s.resync.rate_bps; });
    metric("cbtrep_resync_eta_seconds", "gauge", "Automatic resync: seconds left (-1 unknown)",
           [](const DeviceStatus &s) { return s.resync.eta_seconds; });
    metric("cbtrep_resyncs_completed_total", "counter", "Automatic resyncs finished",
           [](const DeviceStatus &s) { return s.resync.completed; });
    metric("cbtrep_last_consistency_point_seq", "gauge",
           "Sequence number of the last tag durable on the replica",
           [](const DeviceStatus &s) { return s.last_tag_seq; });
    metric("cbtrep_timer_points_total", "counter", "Timer points cut (point_timer)",
           [](const DeviceStatus &s) { return s.point_timer.taken; });
    metric("cbtrep_timer_points_skipped_total", "counter",
           "Ticks a due timer point was skipped (resync, BITMAP mode, EBUSY, freeze failure)",
           [](const DeviceStatus &s) { return s.point_timer.skipped; });
    metric("cbtrep_timer_point_last_unix_seconds", "gauge",
           "When the last timer point was cut (0 = none yet)",
           [](const DeviceStatus &s) { return s.point_timer.last_unix_ns / 1'000'000'000; });
    // Spool figures only for devices that have one.
    auto spool_metric = [&](const char *name, const char *type, const char *help, auto value_of) {
        os << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
        for (const auto &[dev, s] : snap)
            if (s.spool.enabled)
                os << name << "{device=\"" << dev << "\"} " << value_of(s) << "\n";
    };
    int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    spool_metric("cbtrep_spool_bytes", "gauge", "Bytes held in the replication log",
                 [](const DeviceStatus &s) { return s.spool.bytes; });
    spool_metric("cbtrep_spool_limit_bytes", "gauge", "Effective bound of the replication log",
                 [](const DeviceStatus &s) { return s.spool.limit_bytes; });
    spool_metric("cbtrep_spool_oldest_unsent_age_seconds", "gauge",
                 "Age of the oldest change in the replication log not yet durable on the replica",
                 [&](const DeviceStatus &s) {
                     return s.spool.oldest_unsent_unix_ns && s.spool.oldest_unsent_unix_ns < now_ns
                                ? double(now_ns - s.spool.oldest_unsent_unix_ns) / 1e9
                                : 0.0;
                 });
    spool_metric("cbtrep_spool_drops_total", "counter",
                 "Times the replication log was dropped at its limit (resync required)",
                 [](const DeviceStatus &s) { return s.spool.drops; });
    os << "# HELP cbtrep_stage_seconds_total Time spent per pipeline stage\n"
          "# TYPE cbtrep_stage_seconds_total counter\n";
    for (const auto &[dev, s] : snap) {
        os << "cbtrep_stage_seconds_total{device=\"" << dev << "\",stage=\"read\"} " << s.read_s
           << "\n";
        os << "cbtrep_stage_seconds_total{device=\"" << dev << "\",stage=\"compress\"} "
           << s.compress_s << "\n";
        os << "cbtrep_stage_seconds_total{device=\"" << dev << "\",stage=\"send\"} " << s.send_s
           << "\n";
        os << "cbtrep_stage_seconds_total{device=\"" << dev << "\",stage=\"apply\"} " << s.apply_s
           << "\n";
    }
    return os.str();
}

} // namespace cbtrep::daemon
