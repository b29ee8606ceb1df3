// Writer threads: one per worker lcore. Each takes the worker's full write
// blocks, writes them to the lanes' files with one write() per block, hands
// the blocks back, and runs the lanes' time rotation, ring and disk cap.
// A slow disk never blocks the dataplane: the worker runs out of free blocks
// and counts writer_busy instead. A block that cannot be written (disk full,
// output directory gone or read-only, I/O error) is counted as disk_full or
// write_error; the error is logged at once and then at most every 10 s, and a
// lane whose failure was logged logs its recovery. Every later block is tried
// again, so writing resumes by itself when the cause goes away (see
// collector/pcap_file.h).
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
  // For /healthz: the errno of the latest failed write while any of this
  // writer's lanes has its last write failed; else 0. A lane stops counting
  // when it writes again, or when it has had nothing to write for 5 s while
  // another lane wrote (its traffic stopped; the disk works).
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
  std::vector<int> lane_error_;      // [lane slot] errno of its last write, 0 when it worked
  std::vector<uint64_t> lane_lost_;  // [lane slot] packets dropped since its writes began to fail
  std::vector<bool> lane_logged_;    // [lane slot] its failure was logged (so will be the recovery)
  std::vector<uint64_t> lane_failed_ns_;  // [lane slot] time of its last failed write
  uint64_t last_success_ns_ = 0;          // last block written while some lane failed
  uint32_t failing_lanes_ = 0;
  uint64_t errors_since_log_ = 0;
  uint64_t last_error_log_ns_ = 0;
  std::thread thread_;
};

}  // namespace vxc
