// Start-up probe: io_uring, then libaio, then pread. The notes record every rejection
// with its reason so the daemon's log says why it runs on what it runs on.
#include <cstdlib>
#include <stdexcept>

#include "queued_reader.h"

namespace cbtrep::reader
{

Selection open_reader(const std::string &path, const Options &opts)
{
    Selection sel;
    const std::string &want = opts.backend;
    if (want != "auto" && want != "io_uring" && want != "libaio" && want != "pread")
        throw std::invalid_argument("reader: unknown backend \"" + want +
                                    "\" (expected auto, io_uring, libaio or pread)");
    // CBTREP_READER_DISABLE=io_uring,libaio makes the probe treat those as unavailable: how
    // the fallback path is tested on hosts where everything works, and an escape hatch for
    // a kernel whose io_uring misbehaves.
    const char *disabled_env = std::getenv("CBTREP_READER_DISABLE");
    std::string disabled = disabled_env ? std::string(",") + disabled_env + "," : "";
    auto attempt = [&](const char *name, auto &&make) -> bool {
        if (want != "auto" && want != name)
            return false;
        try {
            if (want == "auto" && disabled.find(std::string(",") + name + ",") != std::string::npos)
                throw std::runtime_error("disabled by CBTREP_READER_DISABLE");
            sel.reader = make();
            return true;
        } catch (const std::exception &e) {
            if (want != "auto")
                throw std::runtime_error(std::string("reader: backend ") + name +
                                         " was configured but is unusable: " + e.what());
            sel.notes.push_back(std::string(name) + " unavailable (" + e.what() +
                                "), falling back");
            return false;
        }
    };
    bool ok = attempt("io_uring",
                      [&] {
                          std::string note;
                          auto r = make_uring_reader(path, opts, note);
                          if (!note.empty())
                              sel.notes.push_back(note);
                          return r;
                      }) ||
              attempt("libaio", [&] { return make_aio_reader(path, opts); }) ||
              attempt("pread", [&] { return make_pread_reader(path, opts); });
    if (!ok)
        throw std::runtime_error("reader: no backend can read " + path);
    sel.notes.push_back(
        std::string("reader: using ") + backend_name(sel.reader->backend()) + " for " + path +
        " (queue depth " +
        std::to_string(sel.reader->backend() == Backend::pread ? 1 : opts.queue_depth) + ", " +
        (sel.reader->direct() ? "O_DIRECT for aligned pieces" : "buffered") +
        (want == "auto" ? ", probed)" : ", configured)"));
    return sel;
}

} // namespace cbtrep::reader
