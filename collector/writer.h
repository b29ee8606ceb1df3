// Writer threads: one per worker lcore. Each takes the worker's full write
// blocks, writes them to the lanes' files with one write() per block, hands
// the blocks back, and runs the lanes' time rotation, ring and disk cap.
// A slow disk never blocks the dataplane: the worker runs out of free blocks
// and counts writer_busy instead.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "collector/pcap_file.h"
#include "dataplane/counters.h"
#include "dataplane/pipeline.h"

namespace vxc {

// The file options of the lane in a slot (explicit config or the defaults).
using LaneFileOptionsFor = std::function<LaneFileOptions(const LaneSlot&)>;

class Writer {
 public:
  // rotate_requests: bumped by the control plane on SIGHUP; the writer completes
  // every open file when it sees it change.
  Writer(Pipeline& pipeline, uint16_t worker, std::filesystem::path output_dir,
         LaneFileOptionsFor options_for, CompletedFiles& completed,
         const std::atomic<uint64_t>& rotate_requests);
  ~Writer();  // joins the thread (which ends once the worker is done)
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void join();
  const DropCounters& drops() const { return drops_; }  // write_error, disk_full
  uint64_t loops() const { return loops_.get(); }        // heartbeat for /healthz
  // Last write error (errno) or 0 once a write succeeded again; for /healthz.
  int last_error() const { return last_error_.load(std::memory_order_relaxed); }

 private:
  void run();
  void write_block(WriteBlock& block);
  void publish_completed(uint32_t slot);
  void housekeeping(uint64_t now_ns);

  Pipeline& pipeline_;
  uint16_t worker_;
  std::filesystem::path output_dir_;
  LaneFileOptionsFor options_for_;
  CompletedFiles& completed_;
  const std::atomic<uint64_t>& rotate_requests_;
  uint64_t rotations_seen_ = 0;
  std::vector<std::unique_ptr<LaneFile>> files_;  // [lane slot], this worker's lanes only
  std::vector<uint64_t> completed_published_;     // [lane slot]
  DropCounters drops_;
  Counter loops_;
  std::atomic<int> last_error_{0};
  uint64_t errors_since_log_ = 0;
  uint64_t last_error_log_ns_ = 0;
  std::thread thread_;
};

}  // namespace vxc
