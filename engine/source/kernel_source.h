// KernelSource: drains one device of the Linux tracker through /dev/cbtrep-ctl
// (GET/COMMIT/WAIT/STATUS/BITMAP_CUT/BITMAP_READ, include/cbtrep/ioctl.h).
//
// The tracker keeps one batch outstanding: GET returns it again until COMMIT, which is
// exactly the redelivery rewind() needs, so max_outstanding() is 1. Exercised in QEMU
// (tests/kernel); on the host it only compiles.
#pragma once

#include "source.h"

namespace cbtrep::source
{

class KernelSource final : public Source
{
  public:
    explicit KernelSource(std::string name, std::string ctl_path = CBT_CTL_DEVICE_PATH);
    ~KernelSource() override;
    KernelSource(const KernelSource &) = delete;
    KernelSource &operator=(const KernelSource &) = delete;

    const DeviceInfo &info() const override { return info_; }
    std::optional<Batch> next_batch() override;
    void commit(uint64_t batch_id) override;
    void rewind() override { handed_out_ = false; }
    bool wait(std::chrono::milliseconds timeout) override;
    Status status() override;
    size_t max_outstanding() const override { return 1; }
    uint64_t bitmap_cut(uint64_t done_generation) override;
    Bitmap bitmap_read(uint64_t generation) override;
    ResyncReply require_resync(uint32_t reason) override;
    ResyncReply resync_done(uint64_t generation) override;
    std::string describe() const override { return "kernel " + name_; }

    static constexpr const char *CBT_CTL_DEVICE_PATH = "/dev/cbtrep-ctl";

  private:
    template <typename T> T make() const;
    void ioctl_or_throw(unsigned long req, void *arg, const char *what) const;

    std::string name_;
    std::string ctl_path_;
    int fd_ = -1;
    DeviceInfo info_;
    bool handed_out_ = false;
    std::vector<uint8_t> buf_;
};

} // namespace cbtrep::source
