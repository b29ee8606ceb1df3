#include "writer.h"

#include <pthread.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

namespace vxc {
namespace {

constexpr unsigned kBlocksPerPass = 16;
constexpr uint64_t kHousekeepingNs = 200'000'000;   // time rotation, ring, disk cap
constexpr uint64_t kErrorLogNs = 10'000'000'000;    // write errors logged at most this often
constexpr uint64_t kIdleFailureNs = 5'000'000'000;  // see Writer::last_error()

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

Writer::Writer(Pipeline& pipeline, uint16_t worker, std::filesystem::path output_dir,
               LaneFileOptionsFor options_for, CompletedFiles& completed,
               const std::atomic<uint64_t>& rotate_requests)
    : pipeline_(pipeline),
      worker_(worker),
      output_dir_(std::move(output_dir)),
      options_for_(std::move(options_for)),
      completed_(completed),
      rotate_requests_(rotate_requests),
      rotations_seen_(rotate_requests.load()),
      files_(pipeline.config().max_lanes),
      completed_published_(pipeline.config().max_lanes, 0),
      lane_error_(pipeline.config().max_lanes, 0),
      lane_lost_(pipeline.config().max_lanes, 0),
      lane_logged_(pipeline.config().max_lanes, false),
      lane_failed_ns_(pipeline.config().max_lanes, 0) {
  thread_ = std::thread([this] { run(); });
  // Named so that top, /proc and the tests can tell the writers apart.
  pthread_setname_np(thread_.native_handle(), ("vxc-writer-" + std::to_string(worker)).c_str());
}

Writer::~Writer() { join(); }

void Writer::join() {
  if (thread_.joinable()) thread_.join();
}

void Writer::publish_completed(uint32_t slot) {
  const uint64_t done = files_[slot]->files_completed();
  if (done != completed_published_[slot]) {
    pipeline_.lane(slot).files_completed.add(done - completed_published_[slot]);
    completed_published_[slot] = done;
  }
}

void Writer::write_block(WriteBlock& block) {
  const uint32_t slot = block.lane;
  LaneSlot& lane = pipeline_.lane(slot);
  std::unique_ptr<LaneFile>& file = files_[slot];
  int err = 0;
  std::string exception;
  try {
    if (!file) file = std::make_unique<LaneFile>(output_dir_, options_for_(lane), completed_);
    err = file->append(block.data, block.used);
    publish_completed(slot);
  } catch (const std::exception& e) {
    err = EIO;
    exception = std::string(" (") + e.what() + ")";
  }
  auto lane_name = [&] { return file ? file->options().lane_name : std::to_string(slot); };
  if (err == 0) {
    if (failing_lanes_ != 0) last_success_ns_ = now_ns();
    lane.written.add(block.packets);
    lane.inner_bytes.add(block.inner_bytes);
    lane.written_bytes.add(block.used);
    if (lane_error_[slot] != 0) {
      if (lane_logged_[slot])
        spdlog::info("lane {}: writing works again; {} packets were dropped while it failed",
                     lane_name(), lane_lost_[slot]);
      lane_error_[slot] = 0;
      if (--failing_lanes_ == 0) last_error_.store(0, std::memory_order_relaxed);
    }
    return;
  }
  const DropReason reason =
      (err == ENOSPC || err == EDQUOT) ? DropReason::disk_full : DropReason::write_error;
  drops_[static_cast<size_t>(reason)].add(block.packets);
  lane.write_failed.add(block.packets);
  const uint64_t now = now_ns();
  if (lane_error_[slot] == 0) {
    ++failing_lanes_;
    lane_lost_[slot] = 0;
    lane_logged_[slot] = false;
  }
  lane_error_[slot] = err;
  lane_failed_ns_[slot] = now;
  lane_lost_[slot] += block.packets;
  last_error_.store(err, std::memory_order_relaxed);
  errors_since_log_ += block.packets;
  if (last_error_log_ns_ == 0 || now - last_error_log_ns_ >= kErrorLogNs) {
    spdlog::error(
        "lane {}: writing under {} failed: {}{}; {} packets dropped as {} since the last report",
        lane_name(), output_dir_.string(), std::strerror(err), exception, errors_since_log_,
        drop_reason_name(reason));
    errors_since_log_ = 0;
    last_error_log_ns_ = now;
    lane_logged_[slot] = true;
  }
}

void Writer::housekeeping(uint64_t now) {
  const uint64_t rotations = rotate_requests_.load(std::memory_order_relaxed);
  const bool rotate_all = rotations != rotations_seen_;
  rotations_seen_ = rotations;
  for (uint32_t slot = 0; slot < files_.size(); ++slot) {
    if (!files_[slot]) continue;
    if (rotate_all)
      files_[slot]->complete();
    else
      files_[slot]->tick(now);
    publish_completed(slot);
  }
  for (uint32_t slot = 0; failing_lanes_ != 0 && slot < lane_error_.size(); ++slot) {
    if (lane_error_[slot] == 0 || now - lane_failed_ns_[slot] < kIdleFailureNs ||
        last_success_ns_ < lane_failed_ns_[slot])
      continue;
    lane_error_[slot] = 0;  // idle since, while other lanes write: its traffic stopped
    if (--failing_lanes_ == 0) last_error_.store(0, std::memory_order_relaxed);
  }
  completed_.reap();
  const uint64_t deleted = completed_.enforce_disk_cap();
  if (deleted != 0)
    spdlog::warn("free space below --min-free-mb: deleted the {} oldest completed files", deleted);
}

void Writer::run() {
  rte_ring* full = pipeline_.full_blocks(worker_);
  rte_ring* free = pipeline_.free_blocks(worker_);
  void* blocks[kBlocksPerPass];
  uint64_t next_housekeeping = 0;
  for (;;) {
    // Read `done` before draining: blocks handed over before it are all seen.
    const bool worker_done = pipeline_.worker_done(worker_);
    const unsigned n = rte_ring_sc_dequeue_burst(full, blocks, kBlocksPerPass, nullptr);
    for (unsigned i = 0; i < n; ++i) {
      write_block(*static_cast<WriteBlock*>(blocks[i]));
      rte_ring_sp_enqueue(free, blocks[i]);
    }
    loops_.inc();
    const uint64_t now = now_ns();
    if (now >= next_housekeeping) {
      housekeeping(now);
      next_housekeeping = now + kHousekeepingNs;
    }
    if (n == 0) {
      if (worker_done) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  for (uint32_t slot = 0; slot < files_.size(); ++slot) {
    if (!files_[slot]) continue;
    files_[slot]->complete();
    publish_completed(slot);
  }
  completed_.reap();
}

}  // namespace vxc
