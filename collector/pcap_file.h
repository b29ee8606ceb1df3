// Rotating per-lane capture files.
//
// Layout: <output_dir>/<lane>/<lane>-<UTC start, YYYYmmddTHHMMSSZ>-<seq, 6 digits>.<pcap|pcapng>
// A file is written as "<name>.part" and renamed to <name> when complete, so an
// uploader only ever sees whole files. Files are created with O_EXCL|O_NOFOLLOW
// (never overwriting, never following a symlink), mode file_mode, in a lane
// directory made with dir_mode. The header carries the lane's snaplen and
// LINKTYPE_ETHERNET (1); classic pcap uses the microsecond (0xa1b2c3d4) or
// nanosecond (0xa1b23c4d) magic, pcapng one SHB and one IDB with if_tsresol=9.
//
// Threading: a LaneFile is owned by one writer thread. CompletedFiles is shared
// by every writer thread (it has its own mutex).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dataplane/pcap_record.h"

namespace vxc {

struct LaneFileOptions {
  std::string lane_name;
  uint32_t snaplen = 128;
  PcapFormat format = PcapFormat::pcap_usec;
  uint64_t rotate_bytes = 0;        // complete a file before it would pass this size; 0 = no limit
  uint32_t rotate_seconds = 0;      // complete a file this long after it was opened; 0 = no limit
  uint32_t ring_files = 0;          // keep at most this many completed files; 0 = keep all
  std::string post_rotate_command;  // run as `sh -c "$CMD \"\$1\"" sh FILE`; empty = none
  mode_t file_mode = 0640;
  mode_t dir_mode = 0750;
};

// Every completed file of every lane, oldest first, for the shared disk cap
// (--min-free-mb) and the post-rotate commands. Thread-safe.
class CompletedFiles {
 public:
  // min_free_bytes == 0 disables the disk cap.
  CompletedFiles(std::filesystem::path output_dir, uint64_t min_free_bytes);
  ~CompletedFiles();  // waits for running post-rotate commands

  // Records a completed file (only kept when the disk cap is on); starts its
  // post-rotate command (if any) without waiting for it.
  void add(const std::filesystem::path& file, const std::string& post_rotate_command);
  // Removes a file from the record (ring deletion by its lane).
  void forget(const std::filesystem::path& file);
  // While free space on the output file system is below the cap, deletes the
  // oldest completed file (any lane). Returns how many files were deleted.
  uint64_t enforce_disk_cap();
  // Reaps finished post-rotate commands; never blocks.
  void reap();

  uint64_t files_deleted_for_space() const;
  uint64_t post_rotate_failures() const;  // commands that exited non-zero or could not start

 private:
  void reap_locked(bool wait);

  const std::filesystem::path output_dir_;
  const uint64_t min_free_bytes_;
  mutable std::mutex mutex_;                 // guards everything below
  std::deque<std::filesystem::path> files_;  // oldest first
  std::vector<pid_t> children_;              // running post-rotate commands
  size_t prune_at_ = 1024;  // next files_.size() at which vanished entries are dropped
  uint64_t deleted_for_space_ = 0;
  uint64_t post_rotate_failures_ = 0;
};

class LaneFile {
 public:
  LaneFile(std::filesystem::path output_dir, LaneFileOptions options, CompletedFiles& completed);
  ~LaneFile();  // completes the open file, if any

  // Appends whole encoded records (see dataplane/pcap_record.h). Opens a file
  // if none is open; completes the current file first if the append would take
  // it past rotate_bytes (a file always gets at least one append). On a failed
  // or short write the file is cut back to its last whole record and the errno
  // is returned (ENOSPC, EDQUOT, EIO, ...); 0 on success.
  int append(const uint8_t* records, size_t len);

  // Completes the open file if rotate_seconds have passed since it was opened.
  // `now` is CLOCK_REALTIME in nanoseconds.
  void tick(uint64_t now_ns);

  // Completes the open file now (SIGHUP, shutdown). No-op when none is open.
  void complete();

  uint64_t files_completed() const;  // by this LaneFile since construction
  uint64_t files_deleted_by_ring() const;
  const LaneFileOptions& options() const;

 private:
  int open_file();
  void enforce_ring();

  const LaneFileOptions options_;
  const std::filesystem::path lane_dir_;
  CompletedFiles& completed_;

  int fd_ = -1;
  std::filesystem::path part_path_;  // "<name>.part" while open
  std::filesystem::path final_path_;
  uint64_t file_bytes_ = 0;  // header + whole records written to the open file
  bool has_records_ = false;
  uint64_t opened_ns_ = 0;
  uint64_t next_seq_ = 1;
  std::deque<std::filesystem::path> ring_;  // this lane's completed files, oldest first

  // Written by the owning thread only (relaxed load + store); read by anyone.
  std::atomic<uint64_t> files_completed_{0};
  std::atomic<uint64_t> files_deleted_by_ring_{0};
};

}  // namespace vxc
