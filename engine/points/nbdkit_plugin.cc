// nbdkit-cbtrep-plugin.so: exports a recovery point of a replica as a writable NBD disk
// (test failover, docs/points.md). Reads come from PointView (replica + history), writes
// go to a throw-away overlay file; nothing is ever written to the replica or its history.
//
//   nbdkit nbdkit-cbtrep-plugin.so state_dir=DIR replica=NAME path=REPLICA point=ID
//          overlay=FILE
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <string>

#include "points/view.h"

namespace
{

std::string state_dir, replica, path, overlay;
uint64_t point_id = 0;
bool have_point = false;
std::unique_ptr<cbtrep::points::PointView> view;

int cb_config(const char *key, const char *value)
{
    std::string k = key;
    // nbdkit changes to / when it goes to the background: every path is made absolute.
    auto absolute = [&](std::string &out) {
        char *p = nbdkit_absolute_path(value);
        if (!p)
            return -1;
        out = p;
        std::free(p);
        return 0;
    };
    if (k == "state_dir")
        return absolute(state_dir);
    if (k == "path")
        return absolute(path);
    if (k == "overlay")
        return absolute(overlay);
    if (k == "replica")
        replica = value;
    else if (k == "point") {
        char *end = nullptr;
        point_id = std::strtoull(value, &end, 10);
        have_point = end && !*end && *value;
        if (!have_point) {
            nbdkit_error("point=%s: not a point id", value);
            return -1;
        }
    } else {
        nbdkit_error("unknown parameter '%s'", key);
        return -1;
    }
    return 0;
}

int cb_config_complete()
{
    if (state_dir.empty() || replica.empty() || path.empty() || overlay.empty() || !have_point) {
        nbdkit_error("state_dir, replica, path, point and overlay are all required");
        return -1;
    }
    // The view is shared by every connection: they all see one overlay.
    try {
        view = std::make_unique<cbtrep::points::PointView>(state_dir, replica, path, point_id,
                                                           overlay);
    } catch (const std::exception &e) {
        nbdkit_error("%s", e.what());
        return -1;
    }
    return 0;
}

void *cb_open(int)
{
    return view.get();
}

int64_t cb_get_size(void *)
{
    return static_cast<int64_t>(view->size());
}

int cb_pread(void *, void *buf, uint32_t count, uint64_t offset, uint32_t)
{
    try {
        view->read(static_cast<uint8_t *>(buf), count, offset);
        return 0;
    } catch (const std::exception &e) {
        nbdkit_error("%s", e.what());
        errno = EIO;
        return -1;
    }
}

int cb_pwrite(void *, const void *buf, uint32_t count, uint64_t offset, uint32_t)
{
    try {
        view->write(static_cast<const uint8_t *>(buf), count, offset);
        return 0;
    } catch (const std::exception &e) {
        nbdkit_error("%s", e.what());
        errno = EIO;
        return -1;
    }
}

int cb_flush(void *, uint32_t)
{
    return 0;
}

void cb_unload()
{
    view.reset();
}

struct nbdkit_plugin make_plugin()
{
    struct nbdkit_plugin p = {};
    p.name = "cbtrep";
    p.longname = "cbtrep recovery point (test failover)";
    p.version = "1";
    p.description = "a replica at a recovery point, writes to a throw-away overlay";
    p.unload = cb_unload;
    p.config = cb_config;
    p.config_complete = cb_config_complete;
    p.config_help = "state_dir=DIR replica=NAME path=REPLICA point=ID overlay=FILE";
    p.open = cb_open;
    p.get_size = cb_get_size;
    p.pread = cb_pread;
    p.pwrite = cb_pwrite;
    p.flush = cb_flush;
    return p;
}

struct nbdkit_plugin plugin = make_plugin();

} // namespace

// Reads and writes share one overlay and one index: one request at a time.
#define THREAD_MODEL NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS
NBDKIT_REGISTER_PLUGIN(plugin)
