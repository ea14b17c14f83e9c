// The planner: one loop on the source side, a window of regions in flight at the peer.
//
// Per region: REGION (root hash) → if different, BLOCKS → LEAVES of the differing blocks →
// read the differing leaves from the source and write them (resync), or re-check and record
// them (verify). Replies come back in request order, so the loop just takes the next one;
// regions finish out of order (an equal region overtakes a differing one), and the
// checkpoint position is the lowest region not yet finished.
#include "resync.h"

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <set>

#include "common/error.h"
#include "resync/block_hasher.h"
#include "resync/checkpoint.h"
#include "resync/rate_limit.h"

namespace cbtrep::resync
{

void append_merged(std::vector<Range> &ranges, uint64_t offset, uint64_t length)
{
    if (!ranges.empty() && ranges.back().offset + ranges.back().length == offset)
        ranges.back().length += length;
    else
        ranges.push_back({offset, length});
}

namespace
{

using Clock = std::chrono::steady_clock;

codec::Options encoder_options(const Options &o)
{
    codec::Options c = o.codec;
    c.chunk_bytes = std::max<uint32_t>(o.max_extent_bytes, codec::min_chunk_bytes);
    return c;
}

struct Active {
    RegionTree tree; // the source's, once hashed
    bool hashed = false;
    std::vector<uint32_t> blocks; // differing blocks asked about
    std::vector<Range> suspects;  // verify: differing leaf runs waiting for the re-check
};

class Planner
{
  public:
    Planner(const std::string &source, ReplicaPeer &peer, const Options &opts)
        : source_(source), peer_(peer), opts_(opts), limiter_(opts.max_rate),
          encoder_(encoder_options(opts))
    {
        validate(opts_.geometry);
        if (opts_.window < 1 || opts_.window > 1024)
            throw std::invalid_argument(cat("resync: window ", opts_.window, " must be 1..1024"));
        if (opts_.max_extent_bytes < opts_.geometry.leaf_bytes ||
            opts_.max_extent_bytes > codec::max_chunk_bytes)
            throw std::invalid_argument(cat("resync: max extent ", opts_.max_extent_bytes,
                                            " must be between the leaf size and 16 MiB"));
    }

    Result run();

  private:
    void note(const std::string &s)
    {
        if (opts_.on_note)
            opts_.on_note(s);
    }
    void send(HashRequest req)
    {
        expected_.push_back({req.kind, req.region});
        peer_.request(std::move(req));
    }
    Active &hashed(uint64_t region);
    void on_region(const HashReply &rep);
    void on_blocks(const HashReply &rep);
    void on_leaves(const HashReply &rep);
    void on_rehash(const HashReply &rep);
    void send_data(const std::vector<Range> &runs);
    void finish(uint64_t region);
    void checkpoint(bool force);
    void progress(bool force);
    Checkpoint checkpoint_now() const;

    const std::string &source_;
    ReplicaPeer &peer_;
    const Options &opts_;
    RateLimiter limiter_;
    codec::Encoder encoder_;
    std::unique_ptr<BlockHasher> src_;
    PeerInfo info_;
    Result result_;
    uint64_t nregions_ = 0;
    uint64_t watermark_ = 0; // lowest region not finished
    std::set<uint64_t> finished_;
    std::map<uint64_t, Active> active_;
    std::deque<std::pair<RequestKind, uint64_t>> expected_;
    Clock::time_point start_, last_progress_, last_checkpoint_;
    uint64_t checkpointed_ = 0; // done_bytes of the last saved checkpoint
};

Active &Planner::hashed(uint64_t region)
{
    auto it = active_.find(region);
    if (it == active_.end())
        throw Error(cat("resync: reply for region ", region, " which is not in flight"), false);
    Active &a = it->second;
    if (!a.hashed) {
        uint64_t len = std::min<uint64_t>(opts_.geometry.region_bytes,
                                          src_->size() - region * opts_.geometry.region_bytes);
        limiter_.acquire(len);
        a.tree = src_->hash_region(region);
        a.hashed = true;
    }
    return a;
}

void Planner::on_region(const HashReply &rep)
{
    Active &a = hashed(rep.region);
    result_.stats.regions++;
    result_.stats.compared_bytes += a.tree.length;
    if (rep.hashes.size() != 1)
        throw Error(
            cat("resync: region reply for ", rep.region, " holds ", rep.hashes.size(), " hashes"),
            false);
    if (rep.hashes[0] == a.tree.root) {
        finish(rep.region);
        return;
    }
    result_.stats.regions_differing++;
    send({RequestKind::blocks, rep.region, {}, {}});
}

void Planner::on_blocks(const HashReply &rep)
{
    Active &a = hashed(rep.region);
    if (rep.hashes.size() != a.tree.blocks.size())
        throw Error(cat("resync: blocks reply for region ", rep.region, " holds ",
                        rep.hashes.size(), " hashes, expected ", a.tree.blocks.size()),
                    false);
    a.blocks.clear();
    for (uint32_t b = 0; b < rep.hashes.size(); ++b)
        if (!(rep.hashes[b] == a.tree.blocks[b]))
            a.blocks.push_back(b);
    if (a.blocks.empty()) {
        // Roots differed but no block does: only possible if the peer hashed another
        // geometry. Refuse rather than call the region equal.
        throw Error(cat("resync: region ", rep.region,
                        " differs but none of its blocks does; the replica side hashes "
                        "differently"),
                    false);
    }
    send({RequestKind::leaves, rep.region, a.blocks, {}});
}

void Planner::on_leaves(const HashReply &rep)
{
    Active &a = hashed(rep.region);
    const Geometry &g = opts_.geometry;
    uint32_t per = g.leaves_per_block();
    size_t expect = 0;
    for (uint32_t b : a.blocks)
        expect += std::min<size_t>(per, a.tree.leaves.size() - size_t(b) * per);
    if (rep.hashes.size() != expect)
        throw Error(cat("resync: leaves reply for region ", rep.region, " holds ",
                        rep.hashes.size(), " hashes, expected ", expect),
                    false);
    // Runs of differing leaves, cut at max_extent_bytes so each is one extent.
    std::vector<Range> runs;
    size_t k = 0;
    for (uint32_t b : a.blocks) {
        size_t first = size_t(b) * per;
        size_t last = std::min(a.tree.leaves.size(), first + per);
        for (size_t leaf = first; leaf < last; ++leaf, ++k) {
            if (rep.hashes[k] == a.tree.leaves[leaf])
                continue;
            Range r = leaf_range(g, a.tree, leaf);
            result_.stats.leaves_differing++;
            result_.stats.differing_bytes += r.length;
            if (!runs.empty() && runs.back().offset + runs.back().length == r.offset &&
                runs.back().length + r.length <= opts_.max_extent_bytes)
                runs.back().length += r.length;
            else
                runs.push_back(r);
        }
    }
    if (runs.empty())
        throw Error(cat("resync: blocks of region ", rep.region,
                        " differ but none of their leaves does; the replica side hashes "
                        "differently"),
                    false);
    if (opts_.verify) {
        if (opts_.recheck) {
            a.suspects = runs;
            send({RequestKind::rehash, rep.region, {}, std::move(runs)});
            return;
        }
        for (const Range &r : runs)
            append_merged(result_.differing, r.offset, r.length);
    } else {
        send_data(runs);
    }
    finish(rep.region);
}

void Planner::on_rehash(const HashReply &rep)
{
    Active &a = hashed(rep.region);
    // A live source may have changed since the first read (the replica too, if replication
    // runs): read both again now and report only what still differs.
    std::vector<Hash> fresh = src_->hash_leaves(a.suspects);
    if (rep.hashes.size() != fresh.size())
        throw Error(cat("resync: rehash reply for region ", rep.region, " holds ",
                        rep.hashes.size(), " hashes, expected ", fresh.size()),
                    false);
    size_t k = 0;
    uint32_t leaf = opts_.geometry.leaf_bytes;
    for (const Range &r : a.suspects)
        for (uint64_t off = r.offset; off < r.offset + r.length; off += leaf, ++k) {
            uint64_t len = std::min<uint64_t>(leaf, r.offset + r.length - off);
            if (rep.hashes[k] == fresh[k])
                result_.stats.rechecked_equal++;
            else
                append_merged(result_.differing, off, len);
        }
    finish(rep.region);
}

void Planner::send_data(const std::vector<Range> &runs)
{
    std::vector<codec::Chunk> chunks;
    std::vector<uint8_t> buf;
    size_t ri = 0;
    src_->read(runs, [&](uint64_t off, std::span<const uint8_t> bytes) {
        // Pieces arrive in order and never straddle two runs; collect a run, then encode it.
        if (buf.empty() && off != runs[ri].offset)
            throw Error(
                cat("resync: source read returned offset ", off, ", expected ", runs[ri].offset),
                false);
        buf.insert(buf.end(), bytes.begin(), bytes.end());
        if (buf.size() < runs[ri].length)
            return;
        chunks.push_back(encoder_.encode_one(runs[ri].offset, buf));
        buf.clear();
        ++ri;
    });
    uint64_t payload = 0;
    for (const codec::Chunk &c : chunks) {
        payload += c.payload.size();
        result_.stats.sent_bytes += c.length;
        if (c.encoding == codec::Encoding::zero)
            result_.stats.zero_bytes += c.length;
    }
    uint64_t read_bytes = 0;
    for (const Range &r : runs)
        read_bytes += r.length;
    limiter_.acquire(read_bytes + payload);
    result_.stats.payload_bytes += payload;
    peer_.write(std::move(chunks));
}

void Planner::finish(uint64_t region)
{
    active_.erase(region);
    finished_.insert(region);
    while (!finished_.empty() && *finished_.begin() == watermark_) {
        finished_.erase(finished_.begin());
        ++watermark_;
    }
    result_.stats.done_bytes =
        std::min<uint64_t>(watermark_ * opts_.geometry.region_bytes, result_.stats.device_bytes);
    checkpoint(false);
    progress(false);
}

Checkpoint Planner::checkpoint_now() const
{
    Checkpoint cp;
    cp.source = source_;
    cp.source_bytes = src_->size();
    cp.replica = info_.identity;
    cp.replica_bytes = info_.size;
    cp.geometry = opts_.geometry;
    cp.done_bytes = result_.stats.done_bytes;
    return cp;
}

void Planner::checkpoint(bool force)
{
    if (opts_.verify || opts_.checkpoint.empty() || result_.stats.done_bytes == checkpointed_)
        return;
    auto now = Clock::now();
    if (!force && now - last_checkpoint_ < opts_.checkpoint_interval)
        return;
    // The position may only advance once what was written below it is durable.
    peer_.flush();
    save_checkpoint(opts_.checkpoint, checkpoint_now());
    checkpointed_ = result_.stats.done_bytes;
    last_checkpoint_ = now;
}

void Planner::progress(bool force)
{
    if (!opts_.on_progress)
        return;
    auto now = Clock::now();
    if (!force && now - last_progress_ < opts_.progress_interval)
        return;
    last_progress_ = now;
    result_.stats.seconds = std::chrono::duration<double>(now - start_).count();
    result_.stats.wire_bytes = peer_.wire_bytes();
    opts_.on_progress(result_.stats);
}

Result Planner::run()
{
    start_ = last_progress_ = last_checkpoint_ = Clock::now();
    const Geometry &g = opts_.geometry;
    src_ = std::make_unique<BlockHasher>(source_, g, opts_.reader, opts_.direct);
    for (const std::string &n : src_->notes())
        note("source " + n);
    uint64_t size = src_->size();
    info_ = peer_.open(g, size);
    result_.stats.device_bytes = size;
    if (info_.size != size)
        throw Error(cat("resync: the source ", source_, " is ", size, " bytes but the replica ",
                        info_.identity, " is ", info_.size,
                        " bytes; sizes must match (for a replica image file, --resize makes it "
                        "the source's size)"),
                    false);
    nregions_ = g.regions(size);

    if (!opts_.verify && !opts_.checkpoint.empty()) {
        if (auto saved = load_checkpoint(opts_.checkpoint)) {
            Checkpoint now = checkpoint_now();
            std::string why = checkpoint_mismatch(*saved, now);
            if (why.empty()) {
                watermark_ = std::min(nregions_, saved->done_bytes / g.region_bytes);
                if (saved->done_bytes == size)
                    watermark_ = nregions_;
                result_.stats.start_bytes = result_.stats.done_bytes = checkpointed_ =
                    std::min(watermark_ * g.region_bytes, size);
                note(cat("resuming from checkpoint ", opts_.checkpoint, " at byte ",
                         result_.stats.start_bytes));
            } else {
                note(cat("ignoring checkpoint ", opts_.checkpoint, ": ", why,
                         "; starting from the beginning"));
            }
        }
    }
    note(cat(opts_.verify ? "verify" : "resync", " of ", size, " bytes, ", describe(g), ", window ",
             opts_.window, " regions"));

    uint64_t next = watermark_;
    bool stopping = false;
    for (;;) {
        if (!stopping && opts_.should_stop && opts_.should_stop()) {
            stopping = true;
            note("stop requested: finishing the regions in flight");
        }
        while (!stopping && active_.size() < opts_.window && next < nregions_) {
            active_[next];
            send({RequestKind::region, next, {}, {}});
            ++next;
        }
        if (expected_.empty())
            break;
        // Hash our side of the oldest region while the peer works on the window.
        hashed(expected_.front().second);
        HashReply rep = peer_.reply();
        auto [kind, region] = expected_.front();
        expected_.pop_front();
        if (rep.kind != kind || rep.region != region)
            throw Error(cat("resync: peer answered ", request_kind_name(rep.kind), " for region ",
                            rep.region, " where ", request_kind_name(kind), " for region ", region,
                            " was expected"),
                        false);
        switch (rep.kind) {
        case RequestKind::region:
            on_region(rep);
            break;
        case RequestKind::blocks:
            on_blocks(rep);
            break;
        case RequestKind::leaves:
            on_leaves(rep);
            break;
        case RequestKind::rehash:
            on_rehash(rep);
            break;
        }
    }
    result_.complete = watermark_ >= nregions_;
    if (!opts_.verify) {
        peer_.flush();
        if (!opts_.checkpoint.empty()) {
            if (result_.complete)
                remove_checkpoint(opts_.checkpoint); // the next resync starts from 0
            else
                checkpoint(true);
        }
    }
    result_.stats.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    result_.stats.wire_bytes = peer_.wire_bytes();
    progress(true);
    return std::move(result_);
}

} // namespace

Result run(const std::string &source, ReplicaPeer &peer, const Options &opts)
{
    Planner p(source, peer, opts);
    return p.run();
}

} // namespace cbtrep::resync
