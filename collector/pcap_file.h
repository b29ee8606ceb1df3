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
// Directories: the output directory is the operator's (the program creates it
// at start-up, it may be a mount point); a LaneFile never creates it. It
// creates its lane directory whenever it opens a file and the directory is
// missing. While the output directory is missing, append() fails with ENOENT
// and tries again on every call, so writing resumes by itself once it is back.
//
// Faults while running (each logged once, never per packet):
//  * the open file or its lane directory is deleted: the next append() starts
//    a new file, in a new lane directory if needed;
//  * the lane directory is moved, replaced or mounted over: tick() completes
//    the open file where it is (renamed through a descriptor of the directory
//    that holds it) and the next file goes to the path again;
//  * a write fails with anything but ENOSPC/EDQUOT (EIO, EROFS, EFBIG, ...):
//    the file is cut back to whole records and completed, and the next append()
//    opens a new one. A full disk keeps the file open; it resumes in place;
//  * a rename that fails (the file system went read-only) is retried by tick()
//    until it works or the file is gone; only then does the file count as
//    completed and get its post-rotate command;
//  * a crash or SIGKILL leaves the open file as "<name>.part": a valid capture
//    of whole records, possibly followed by one record cut short by a write the
//    kill interrupted (readers stop there with a truncation warning), or, when
//    it was a reused ring file, by an end marker (readers stop there with an
//    error) and older bytes. A restart cuts such a file at its marker, keeps it
//    otherwise as it is (logged) and continues the sequence after the highest
//    seq on disk, .part files included: no name is ever reused.
//
// Reusing ring files: when a lane with a ring rotates by size (the only
// rotation a steady feed makes), the ring's oldest file is not deleted but
// written over as the next file, if it has no other name (a hard link) and no
// other process has it open (a write lease is granted only then; see
// sole_opener in the .cpp); otherwise it is deleted. It is first renamed to
// "<lane dir>/.<lane>.reuse", given the new header and an end marker, then
// renamed to the next .part name (a kill in between leaves the hidden name,
// deleted at the next start). On a tmpfs this keeps its pages: allocating
// and freeing them was most of a writer's time (~1.1 GB/s fresh vs ~3.3 GB/s
// reused on the machine of README "Performance"). While older bytes follow
// what is written, every write keeps a 16-byte end marker (all 0xff: an
// impossible pcap record length or pcapng block length) right behind the last
// whole record, and the first 16 bytes of a write go in last, over the
// previous marker: at every moment a reader of the .part, or what a kill
// leaves, ends in whole records and then a marker readers stop at.
// complete() cuts the older bytes off. A restart cuts an earlier run's .part
// at its marker (scan_earlier_files).
//
// Threading: a LaneFile is owned by one writer thread. CompletedFiles is shared
// by every writer thread (it has its own mutex).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
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
  // How long the destructor waits for running post-rotate commands.
  static constexpr std::chrono::milliseconds kPostRotateExitWait{5000};

  // min_free_bytes == 0 disables the disk cap.
  CompletedFiles(std::filesystem::path output_dir, uint64_t min_free_bytes,
                 std::chrono::milliseconds post_rotate_exit_wait = kPostRotateExitWait);
  // Waits up to post_rotate_exit_wait for running post-rotate commands, then
  // leaves the rest running (logged): a command that never exits must not keep
  // the collector from stopping.
  ~CompletedFiles();

  // Records a completed file (only kept when the disk cap is on); starts its
  // post-rotate command (if any) without waiting for it. The command gets
  // /dev/null as stdin, our stderr as stdout and stderr (our stdout carries
  // the JSON summary), and none of our other descriptors.
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
  void reap_locked();  // never blocks

  const std::filesystem::path output_dir_;
  const uint64_t min_free_bytes_;
  const std::chrono::milliseconds post_rotate_exit_wait_;
  mutable std::mutex mutex_;                 // guards everything below
  std::deque<std::filesystem::path> files_;  // oldest first
  std::vector<pid_t> children_;              // running post-rotate commands
  size_t prune_at_ = 1024;  // next files_.size() at which vanished entries are dropped
  uint64_t deleted_for_space_ = 0;
  uint64_t post_rotate_failures_ = 0;
};

class LaneFile {
 public:
  // Touches no file yet: the lane directory is made (and scanned for earlier
  // files) by the first append(). Throws std::invalid_argument for a lane name
  // that cannot be a directory name.
  LaneFile(std::filesystem::path output_dir, LaneFileOptions options, CompletedFiles& completed);
  ~LaneFile();  // completes the open file, if any, and tries failed renames once more

  // Appends whole encoded records (see dataplane/pcap_record.h). Opens a file
  // if none is open; completes the current file first if the append would take
  // it past rotate_bytes (a file always gets at least one append). On a failed
  // or short write the file is cut back to its last whole record and the errno
  // is returned (ENOSPC, EDQUOT, EIO, EROFS, ...; ENOENT or EROFS from opening
  // a file); 0 on success. See "Faults" above for what happens to the file.
  int append(const uint8_t* records, size_t len);

  // Housekeeping, called every few hundred ms: completes the open file if
  // rotate_seconds have passed since it was opened (`now` is CLOCK_REALTIME in
  // nanoseconds) or if its lane directory is no longer at its path, and
  // retries failed renames.
  void tick(uint64_t now_ns);

  // Completes the open file now (SIGHUP, shutdown). No-op when none is open.
  void complete();

  uint64_t files_completed() const;        // by this LaneFile since construction
  uint64_t files_deleted_by_ring() const;  // reused ring files included
  uint64_t files_reused() const;           // ring files written over instead of deleted
  size_t renames_pending() const { return unrenamed_.size(); }  // owning thread only
  const LaneFileOptions& options() const;

 private:
  // A closed file still named "<name>.part", in the directory dir_fd refers to.
  struct Unrenamed {
    int dir_fd = -1;
    std::string part_name;
    std::string final_name;
    int error = 0;  // of the last failed rename
  };

  int open_file();
  int open_new_file(int dir_fd);
  // Moves spare_ to part_name in dir_fd with a new header and an end marker
  // and returns a descriptor to write over it (its size in *size); -1 when it
  // cannot be reused (it is then deleted, as the ring would have), -EEXIST
  // when part_name is taken (then it is deleted too).
  int take_spare(int dir_fd, const std::string& part_name, uint64_t* size);
  void drop_spare();  // deletes spare_, if any
  // The spare's name in the lane directory on its way to the next .part.
  std::string reuse_name() const { return "." + options_.lane_name + ".reuse"; }
  // Writes records at file_bytes_, guarded by an end marker while older bytes follow.
  int write_records(const uint8_t* records, size_t len);
  int open_lane_dir();  // returns a directory fd or -errno
  void scan_earlier_files();
  // Cuts an earlier run's .part (in lane_dir_) at the end marker a kill left
  // in it while it was written over a reused ring file; leaves others alone.
  void cut_at_end_marker(const std::string& part_name);
  bool lane_dir_moved() const;
  // true when done with it (renamed, gone, or given up); keep_spare: see enforce_ring
  bool try_rename(Unrenamed& u, bool keep_spare = false);
  void retry_renames();
  void complete(bool keep_spare);
  // Deletes the ring's oldest completed file; false when the lane has no ring or it is empty.
  bool delete_oldest_ring_file();
  // keep_spare: the oldest file beyond the ring goes to spare_ (for the next
  // open_file to write over) instead of being deleted.
  void enforce_ring(bool keep_spare = false);

  const LaneFileOptions options_;
  const std::filesystem::path lane_dir_;
  CompletedFiles& completed_;

  int fd_ = -1;
  int dir_fd_ = -1;  // the lane directory holding the open file
  std::string part_name_;
  std::string final_name_;
  uint64_t file_bytes_ = 0;  // header + whole records written to the open file
  uint64_t stale_end_ = 0;   // a reused file's older bytes (after the marker) end here; 0: none
  bool has_records_ = false;
  uint64_t opened_ns_ = 0;
  bool scanned_ = false;  // earlier files looked at (first open)
  uint64_t next_seq_ = 1;
  std::deque<std::filesystem::path> ring_;  // this lane's completed files, oldest first
  std::filesystem::path spare_;             // the ring's oldest, taken out for reuse; empty: none
  std::vector<Unrenamed> unrenamed_;        // renames to retry

  // Written by the owning thread only (relaxed load + store); read by anyone.
  std::atomic<uint64_t> files_completed_{0};
  std::atomic<uint64_t> files_deleted_by_ring_{0};
  std::atomic<uint64_t> files_reused_{0};
};

}  // namespace vxc
