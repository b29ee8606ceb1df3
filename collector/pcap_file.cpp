#include "collector/pcap_file.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <climits>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>

namespace vxc {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kNsPerSec = 1000000000u;
constexpr int kMaxOpenAttempts = 1000;  // EEXIST retries before giving up

// Written right behind the last whole record while a reused file's older bytes
// follow: as a pcap record its length (0xffffffff) is above any reader's
// limit, as a pcapng block its type and length are invalid. Readers stop there.
constexpr size_t kEndMarkerLen = 16;
constexpr uint8_t kEndMarker[kEndMarkerLen] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                               0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

struct ParsedName {
  std::string_view stamp;  // YYYYmmddTHHMMSSZ
  uint64_t seq = 0;
  bool part = false;
};

// Parses "<lane>-<YYYYmmddTHHMMSSZ>-<seq>.<pcap|pcapng>[.part]".
std::optional<ParsedName> parse_name(std::string_view lane, std::string_view name) {
  if (name.size() <= lane.size() || name.substr(0, lane.size()) != lane ||
      name[lane.size()] != '-') {
    return std::nullopt;
  }
  name.remove_prefix(lane.size() + 1);
  if (name.size() < 18 || name[16] != '-') return std::nullopt;
  ParsedName parsed;
  parsed.stamp = name.substr(0, 16);
  for (size_t i = 0; i < 16; ++i) {
    const char c = parsed.stamp[i];
    const bool ok = i == 8 ? c == 'T' : i == 15 ? c == 'Z' : (c >= '0' && c <= '9');
    if (!ok) return std::nullopt;
  }
  name.remove_prefix(17);
  size_t digits = 0;
  while (digits < name.size() && name[digits] >= '0' && name[digits] <= '9') {
    parsed.seq = parsed.seq * 10 + static_cast<uint64_t>(name[digits] - '0');
    ++digits;
  }
  if (digits == 0 || digits > 18) return std::nullopt;
  name.remove_prefix(digits);
  if (name.ends_with(".part")) {
    parsed.part = true;
    name.remove_suffix(5);
  }
  if (name != ".pcap" && name != ".pcapng") return std::nullopt;
  return parsed;
}

bool is_regular_file_no_follow(const fs::path& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool vanished(const fs::path& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) != 0 && errno == ENOENT;
}

uint64_t realtime_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * kNsPerSec + static_cast<uint64_t>(ts.tv_nsec);
}

std::string utc_stamp(uint64_t ns) {
  const time_t sec = static_cast<time_t>(ns / kNsPerSec);
  tm utc;
  ::gmtime_r(&sec, &utc);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &utc);
  return buf;
}

template <typename T>
void put(std::vector<uint8_t>& out, T value) {
  const auto* p = reinterpret_cast<const uint8_t*>(&value);
  out.insert(out.end(), p, p + sizeof(value));
}

// File header in host byte order; readers tell the order from the magic.
std::vector<uint8_t> file_header(PcapFormat format, uint32_t snaplen) {
  constexpr uint16_t kLinktypeEthernet = 1;
  std::vector<uint8_t> h;
  if (format != PcapFormat::pcapng) {
    put<uint32_t>(h, format == PcapFormat::pcap_nsec ? 0xa1b23c4d : 0xa1b2c3d4);
    put<uint16_t>(h, 2);  // version 2.4
    put<uint16_t>(h, 4);
    put<int32_t>(h, 0);   // thiszone
    put<uint32_t>(h, 0);  // sigfigs
    put<uint32_t>(h, snaplen);
    put<uint32_t>(h, kLinktypeEthernet);
    return h;
  }
  // Section Header Block, no options, section length unknown (-1).
  put<uint32_t>(h, 0x0a0d0d0a);
  put<uint32_t>(h, 28);
  put<uint32_t>(h, 0x1a2b3c4d);
  put<uint16_t>(h, 1);
  put<uint16_t>(h, 0);
  put<int64_t>(h, -1);
  put<uint32_t>(h, 28);
  // Interface Description Block: if_tsresol (code 9) = 9, i.e. nanoseconds,
  // matching the EPB timestamps of pcap_record.h.
  put<uint32_t>(h, 1);
  put<uint32_t>(h, 32);
  put<uint16_t>(h, kLinktypeEthernet);
  put<uint16_t>(h, 0);
  put<uint32_t>(h, snaplen);
  put<uint16_t>(h, 9);
  put<uint16_t>(h, 1);
  h.insert(h.end(), {9, 0, 0, 0});  // value, then padding to 4
  put<uint16_t>(h, 0);              // opt_endofopt
  put<uint16_t>(h, 0);
  put<uint32_t>(h, 32);
  return h;
}

// One pwrite() per call, looping only on partial writes. Returns 0 or errno.
int write_all(int fd, const uint8_t* data, size_t len, uint64_t offset) {
  while (len > 0) {
    const ssize_t n = ::pwrite(fd, data, len, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    data += n;
    len -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return 0;
}

// pwritev() of two pieces, looping on partial writes. Returns 0 or errno.
int write_all(int fd, const uint8_t* a, size_t a_len, const uint8_t* b, size_t b_len,
              uint64_t offset) {
  while (a_len > 0) {
    iovec iov[2] = {{const_cast<uint8_t*>(a), a_len}, {const_cast<uint8_t*>(b), b_len}};
    const ssize_t n = ::pwritev(fd, iov, 2, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    const size_t done = static_cast<size_t>(n);
    if (done >= a_len)
      return write_all(fd, b + (done - a_len), b_len - (done - a_len), offset + done);
    a += done;
    a_len -= done;
    offset += done;
  }
  return write_all(fd, b, b_len, offset);
}

// True when no other open file description refers to fd's file: the kernel
// grants a write lease only then (other readers and writers, a post-rotate
// command still reading it, an mmap). The lease is given back at once. False
// when leases are unavailable (fs.leases-enable=0, a file system without them,
// a file of another owner).
bool sole_opener(int fd) {
  // Someone opening the file while we hold the lease makes the kernel signal
  // us, SIGIO by default, whose default action ends the process. SIGURG's
  // default action is to ignore it.
  if (::fcntl(fd, F_SETSIG, SIGURG) != 0) return false;
  if (::fcntl(fd, F_SETLEASE, F_WRLCK) != 0) return false;
  ::fcntl(fd, F_SETLEASE, F_UNLCK);
  return true;
}

// Where the end marker of a .part left by a run that was killed while writing
// over a reused ring file is: walks the records from the file header (host
// byte order, as this program writes them). 0 when there is no marker at a
// record boundary (an ordinary .part, a foreign or damaged file).
uint64_t find_end_marker(int fd) {
  std::vector<uint8_t> window(1u << 20);
  uint64_t window_at = 0;
  size_t window_len = 0;
  // Copies the 16 bytes at `at` into out; false when the file ends first.
  auto read16 = [&](uint64_t at, uint8_t* out) {
    if (at < window_at || at + kEndMarkerLen > window_at + window_len) {
      const ssize_t n = ::pread(fd, window.data(), window.size(), static_cast<off_t>(at));
      window_at = at;
      window_len = n > 0 ? static_cast<size_t>(n) : 0;
      if (window_len < kEndMarkerLen) return false;
    }
    std::memcpy(out, window.data() + (at - window_at), kEndMarkerLen);
    return true;
  };
  auto u32 = [](const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  };
  uint8_t h[kEndMarkerLen];
  if (!read16(0, h)) return 0;
  const uint32_t magic = u32(h);
  const bool pcapng = magic == 0x0a0d0d0a;
  if (!pcapng && magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) return 0;
  uint64_t at = pcapng ? 0 : 24;
  while (read16(at, h)) {
    if (std::memcmp(h, kEndMarker, kEndMarkerLen) == 0) return at;
    if (pcapng) {
      const uint32_t len = u32(h + 4);
      if (len < 12 || len % 4 != 0) return 0;
      at += len;
    } else {
      const uint32_t caplen = u32(h + 8);
      if (caplen > 262144) return 0;
      at += kPcapRecordHeaderLen + caplen;
    }
  }
  return 0;
}

// Starts `/bin/sh -c 'COMMAND "$1"' sh FILE` without waiting. The child gets
// /dev/null as stdin, our stderr as its stdout (our stdout is the summary's),
// no other descriptor of ours (the EAL's memory, pipes and capture files
// would otherwise stay open as long as it runs) and default signal state (the
// writer thread may have signals blocked or ignored). Returns 0 or the error.
int spawn_post_rotate(const std::string& command, std::string file, pid_t* pid) {
  std::string script = command + " \"$1\"";
  char sh[] = "sh";
  char dash_c[] = "-c";
  char* argv[] = {sh, dash_c, script.data(), sh, file.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, 2, 1);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  const int rc = ::posix_spawn(pid, "/bin/sh", &actions, &attr, argv, environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  return rc;
}

// True when `path` no longer leads to the directory `dir_fd` refers to
// (removed, moved, replaced or mounted over).
bool is_moved(const fs::path& path, int dir_fd) {
  struct stat here;
  struct stat held;
  if (::stat(path.c_str(), &here) != 0) return errno == ENOENT || errno == ENOTDIR;
  if (::fstat(dir_fd, &held) != 0) return false;
  return here.st_dev != held.st_dev || here.st_ino != held.st_ino;
}

void validate_lane_name(const std::string& lane) {
  if (lane.empty() || lane == "." || lane == ".." || lane.find('/') != std::string::npos ||
      lane.find('\0') != std::string::npos) {
    throw std::invalid_argument("lane name '" + lane + "' cannot be a directory name");
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// CompletedFiles

CompletedFiles::CompletedFiles(std::filesystem::path output_dir, uint64_t min_free_bytes,
                               std::chrono::milliseconds post_rotate_exit_wait)
    : output_dir_(output_dir.lexically_normal()),
      min_free_bytes_(min_free_bytes),
      post_rotate_exit_wait_(post_rotate_exit_wait) {
  // Completed files of earlier runs count against the disk cap too, oldest
  // (by the start time in their name) first.
  std::vector<std::tuple<std::string, uint64_t, fs::path>> found;
  std::error_code ec;
  if (min_free_bytes_ == 0 || !fs::is_directory(output_dir_, ec)) return;
  for (const auto& lane_entry : fs::directory_iterator(output_dir_)) {
    if (!lane_entry.is_directory() || lane_entry.is_symlink()) continue;
    const std::string lane = lane_entry.path().filename().string();
    for (const auto& entry : fs::directory_iterator(lane_entry.path())) {
      const std::string name = entry.path().filename().string();
      const auto parsed = parse_name(lane, name);
      if (!parsed || parsed->part || !is_regular_file_no_follow(entry.path())) continue;
      found.emplace_back(std::string(parsed->stamp), parsed->seq, entry.path());
    }
  }
  std::sort(found.begin(), found.end());
  for (auto& f : found) files_.push_back(std::move(std::get<2>(f)));
}

CompletedFiles::~CompletedFiles() {
  std::lock_guard lock(mutex_);
  const auto deadline = std::chrono::steady_clock::now() + post_rotate_exit_wait_;
  reap_locked();
  while (!children_.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    reap_locked();
  }
  if (children_.empty()) return;
  std::string pids;
  for (const pid_t pid : children_) {
    pids += ' ';  // not " " + to_string(): GCC 12 -O3 warns falsely on that (stringop-overflow)
    pids += std::to_string(pid);
  }
  spdlog::warn("{} post-rotate command(s) still running after {} ms, left running: pid{}",
               children_.size(), post_rotate_exit_wait_.count(), pids);
}

void CompletedFiles::add(const std::filesystem::path& file,
                         const std::string& post_rotate_command) {
  std::lock_guard lock(mutex_);
  // Only the disk cap needs the record; without one it would just grow.
  if (min_free_bytes_ != 0) {
    files_.push_back(file.lexically_normal());
    if (files_.size() >= prune_at_) {
      // Files an uploader moved away no longer need a slot.
      std::erase_if(files_, vanished);
      prune_at_ = std::max<size_t>(1024, 2 * files_.size());
    }
  }
  if (!post_rotate_command.empty()) {
    pid_t pid = -1;
    if (const int err = spawn_post_rotate(post_rotate_command, file.string(), &pid); err != 0) {
      ++post_rotate_failures_;
      spdlog::warn("post-rotate command for {}: cannot start /bin/sh: {}", file.string(),
                   std::strerror(err));
    } else {
      children_.push_back(pid);
    }
  }
  reap_locked();
}

void CompletedFiles::forget(const std::filesystem::path& file) {
  const fs::path normal = file.lexically_normal();
  std::lock_guard lock(mutex_);
  const auto it = std::find(files_.begin(), files_.end(), normal);
  if (it != files_.end()) files_.erase(it);
}

uint64_t CompletedFiles::enforce_disk_cap() {
  if (min_free_bytes_ == 0) return 0;
  std::lock_guard lock(mutex_);
  uint64_t deleted = 0;
  while (!files_.empty()) {
    struct statvfs vfs;
    if (::statvfs(output_dir_.c_str(), &vfs) != 0) break;
    if (static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize >= min_free_bytes_) break;
    const fs::path oldest = std::move(files_.front());
    files_.pop_front();
    if (::unlink(oldest.c_str()) == 0) {
      ++deleted;
    } else if (errno != ENOENT) {
      spdlog::warn("disk cap: cannot delete {}: {}", oldest.string(), std::strerror(errno));
    }
  }
  deleted_for_space_ += deleted;
  return deleted;
}

void CompletedFiles::reap() {
  std::lock_guard lock(mutex_);
  reap_locked();
}

void CompletedFiles::reap_locked() {
  for (auto it = children_.begin(); it != children_.end();) {
    int status = 0;
    const pid_t r = ::waitpid(*it, &status, WNOHANG);
    if (r == 0) {
      ++it;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    // r < 0 otherwise (ECHILD): someone else reaped it; nothing to count.
    if (r == *it && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) ++post_rotate_failures_;
    it = children_.erase(it);
  }
}

uint64_t CompletedFiles::files_deleted_for_space() const {
  std::lock_guard lock(mutex_);
  return deleted_for_space_;
}

uint64_t CompletedFiles::post_rotate_failures() const {
  std::lock_guard lock(mutex_);
  return post_rotate_failures_;
}

// ---------------------------------------------------------------------------
// LaneFile

LaneFile::LaneFile(std::filesystem::path output_dir, LaneFileOptions options,
                   CompletedFiles& completed)
    : options_(std::move(options)),
      lane_dir_((output_dir / options_.lane_name).lexically_normal()),
      completed_(completed) {
  validate_lane_name(options_.lane_name);
}

LaneFile::~LaneFile() {
  complete();
  retry_renames();
  for (Unrenamed& u : unrenamed_) {
    spdlog::error("lane {}: {} in {} could not be renamed to {}; left as it is", options_.lane_name,
                  u.part_name, lane_dir_.string(), u.final_name);
    ::close(u.dir_fd);
  }
}

int LaneFile::open_lane_dir() {
  // The lane directory is ours to recreate; the output directory is not
  // (ENOENT until the operator brings it back).
  if (::mkdir(lane_dir_.c_str(), options_.dir_mode) == 0) {
    if (::chmod(lane_dir_.c_str(), options_.dir_mode) != 0) return -errno;  // not the umask's
  } else if (errno != EEXIST) {
    return -errno;
  }
  const int fd = ::open(lane_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return fd >= 0 ? fd : -errno;  // ENOTDIR when a file took the directory's place
}

void LaneFile::scan_earlier_files() {
  // Continue after the highest seq on disk (a .part of a crashed run counts
  // too), so a restart never reuses a name; earlier completed files join the ring.
  std::vector<fs::path> earlier;
  std::vector<std::string> parts;
  std::error_code ec;
  for (fs::directory_iterator it(lane_dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const auto parsed = parse_name(options_.lane_name, name);
    if (!parsed) continue;
    next_seq_ = std::max(next_seq_, parsed->seq + 1);
    if (!is_regular_file_no_follow(it->path())) continue;
    if (parsed->part)
      parts.push_back(name);
    else
      earlier.push_back(it->path());
  }
  std::sort(earlier.begin(), earlier.end());
  if (options_.ring_files != 0) ring_.assign(earlier.begin(), earlier.end());
  for (const std::string& part : parts) cut_at_end_marker(part);
  // A ring file being taken for reuse when an earlier run was killed: no
  // longer a capture (its header may be new, its records are not).
  const fs::path hidden = lane_dir_ / reuse_name();
  if (::unlink(hidden.c_str()) == 0)
    spdlog::warn("lane {}: deleted {}, a ring file an earlier run was about to write over",
                 options_.lane_name, hidden.string());
  if (!parts.empty()) {
    std::sort(parts.begin(), parts.end());
    spdlog::warn(
        "lane {}: {} unfinished file(s) of an earlier run that did not stop cleanly, kept as "
        "they are (whole records, the last one possibly cut): {}",
        options_.lane_name, parts.size(), fmt::join(parts, " "));
  }
}

int LaneFile::open_file() {
  const int dir_fd = open_lane_dir();
  int err = dir_fd < 0 ? -dir_fd : open_new_file(dir_fd);
  drop_spare();  // not reused: deleted, as the ring would have
  return err;
}

int LaneFile::open_new_file(int dir_fd) {
  if (!scanned_) {
    scan_earlier_files();
    scanned_ = true;
  }
  const uint64_t now = realtime_ns();
  const std::string prefix = options_.lane_name + "-" + utc_stamp(now) + "-";
  const char* ext = options_.format == PcapFormat::pcapng ? ".pcapng" : ".pcap";
  int err = EEXIST;
  for (int attempt = 0; attempt < kMaxOpenAttempts; ++attempt, ++next_seq_) {
    char seq[24];
    std::snprintf(seq, sizeof(seq), "%06" PRIu64, next_seq_);
    std::string final_name = prefix + seq + ext;
    std::string part_name = final_name + ".part";
    struct stat st;
    if (::fstatat(dir_fd, final_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      continue;  // never shadow a completed file
    }
    if (errno != ENOENT) {
      err = errno;
      break;
    }
    uint64_t reused_size = 0;  // a reused file has its header and an end marker already
    int fd = spare_.empty() ? -1 : take_spare(dir_fd, part_name, &reused_size);
    if (fd == -EEXIST) continue;
    const bool reused = fd >= 0;
    if (!reused) {
      fd = ::openat(dir_fd, part_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    options_.file_mode);
    }
    if (fd < 0) {
      if (errno == EEXIST) continue;
      err = errno;
      break;
    }
    const std::vector<uint8_t> header = file_header(options_.format, options_.snaplen);
    err = ::fchmod(fd, options_.file_mode) == 0 ? 0 : errno;
    if (err == 0 && !reused) err = write_all(fd, header.data(), header.size(), 0);
    if (err != 0) {
      // Nothing worth keeping; the seq is free again for the next try.
      ::close(fd);
      ::unlinkat(dir_fd, part_name.c_str(), 0);
      break;
    }
    fd_ = fd;
    dir_fd_ = dir_fd;
    part_name_ = std::move(part_name);
    final_name_ = std::move(final_name);
    file_bytes_ = header.size();
    stale_end_ = reused_size;
    has_records_ = false;
    opened_ns_ = now;
    ++next_seq_;
    if (reused)
      files_reused_.store(files_reused_.load(std::memory_order_relaxed) + 1,
                          std::memory_order_relaxed);
    return 0;
  }
  ::close(dir_fd);
  return err;
}

int LaneFile::take_spare(int dir_fd, const std::string& part_name, uint64_t* size) {
  // The spare is made unreadable under a hidden name first: a kill at any
  // point leaves either that name (deleted at the next start) or the .part
  // with the new header and an end marker, never an older capture under a
  // new name.
  const std::string hidden = reuse_name();
  if (::renameat2(AT_FDCWD, spare_.c_str(), dir_fd, hidden.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST) ::unlinkat(dir_fd, hidden.c_str(), 0);  // a kill's leftover
    drop_spare();  // gone, another file system (EXDEV), no RENAME_NOREPLACE (EINVAL), ...
    return -1;
  }
  spare_.clear();
  // O_NONBLOCK: something that is not a regular file (a FIFO) must not block us.
  int fd = ::openat(dir_fd, hidden.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  struct stat st;
  // The lease is checked after the rename: whoever opened the file by its
  // old name is seen, a later open by that name finds nothing. A second name
  // (a post-rotate `ln` into an archive) would see the file change.
  const bool ours = fd >= 0 && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
                    sole_opener(fd);
  // Over the old header: the new one and an end marker, in one write within
  // the first page (a kill cannot split it).
  std::vector<uint8_t> header = file_header(options_.format, options_.snaplen);
  header.insert(header.end(), kEndMarker, kEndMarker + kEndMarkerLen);
  if (ours && write_all(fd, header.data(), header.size(), 0) == 0 &&
      ::renameat2(dir_fd, hidden.c_str(), dir_fd, part_name.c_str(), RENAME_NOREPLACE) == 0) {
    *size = std::max<uint64_t>(static_cast<uint64_t>(st.st_size), header.size());
    return fd;
  }
  const bool taken = errno == EEXIST;  // part_name exists: the caller tries the next seq
  // Otherwise someone still reads it, or it has another name: delete this
  // name (the others keep what it holds) and start afresh.
  if (fd >= 0) ::close(fd);
  ::unlinkat(dir_fd, hidden.c_str(), 0);
  return ours && taken ? -EEXIST : -1;
}

void LaneFile::drop_spare() {
  if (spare_.empty()) return;
  if (::unlink(spare_.c_str()) != 0 && errno != ENOENT) {
    spdlog::warn("lane {}: cannot delete {}: {}", options_.lane_name, spare_.string(),
                 std::strerror(errno));
  }
  spare_.clear();
}

void LaneFile::cut_at_end_marker(const std::string& part_name) {
  const fs::path path = lane_dir_ / part_name;
  const int fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  const uint64_t marker = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? find_end_marker(fd) : 0;
  if (marker != 0) {
    if (::ftruncate(fd, static_cast<off_t>(marker)) == 0) {
      spdlog::warn(
          "lane {}: {} was being written over a reused ring file when the earlier run "
          "stopped; cut at its end marker ({} bytes of the older file removed)",
          options_.lane_name, part_name, static_cast<uint64_t>(st.st_size) - marker);
    } else {
      spdlog::warn("lane {}: cannot cut {} at its end marker: {}", options_.lane_name, part_name,
                   std::strerror(errno));
    }
  }
  ::close(fd);
}

int LaneFile::write_records(const uint8_t* records, size_t len) {
  const uint64_t at = file_bytes_;
  // Beyond `at` lies at most the marker [at, at + 16): a plain write covers it.
  if (stale_end_ <= at + kEndMarkerLen) return write_all(fd_, records, len, at);
  if (len < kEndMarkerLen) {  // not a whole record; cannot be guarded: drop the older bytes
    if (::ftruncate(fd_, static_cast<off_t>(at)) != 0) return errno;
    stale_end_ = 0;
    return write_all(fd_, records, len, at);
  }
  // Older bytes follow. The marker at `at` stops readers while everything but
  // the first 16 bytes, and the next marker right behind, is written; then
  // those 16 bytes replace it.
  int err = write_all(fd_, records + kEndMarkerLen, len - kEndMarkerLen, kEndMarker, kEndMarkerLen,
                      at + kEndMarkerLen);
  if (err == 0) err = write_all(fd_, records, kEndMarkerLen, at);
  return err;
}

int LaneFile::append(const uint8_t* records, size_t len) {
  if (len == 0) return 0;
  if (fd_ >= 0) {
    struct stat st;
    if (::fstat(fd_, &st) == 0 && st.st_nlink == 0) {
      // Deleted under us (file or lane directory removed): writing on would
      // fill the disk invisibly, so start a new file.
      spdlog::warn("lane {}: {} was deleted while open; starting a new file", options_.lane_name,
                   (lane_dir_ / part_name_).string());
      complete();
    } else if (options_.rotate_bytes != 0 && has_records_ &&
               file_bytes_ + len > options_.rotate_bytes) {
      complete(/*keep_spare=*/true);  // the next file may be written over the ring's oldest
    }
  }
  if (fd_ < 0) {
    if (const int err = open_file(); err != 0) return err;
  }
  int err = write_records(records, len);
  // A full disk with a ring: the ring's oldest file goes first, as it would
  // at the next rotation, and the write is tried again.
  while ((err == ENOSPC || err == EDQUOT) && delete_oldest_ring_file())
    err = write_records(records, len);
  if (err != 0) {
    // Cut back to the last whole record so the file stays readable (this
    // also drops a reused file's older bytes).
    if (::ftruncate(fd_, static_cast<off_t>(file_bytes_)) == 0) {
      stale_end_ = 0;
    } else {
      spdlog::warn("lane {}: cannot truncate {}: {}", options_.lane_name, part_name_,
                   std::strerror(errno));
    }
    // A full disk may free up: keep the file. Anything else (EIO, EROFS, ...)
    // may never heal on this descriptor: keep what it holds, start afresh.
    if (err != ENOSPC && err != EDQUOT) complete();
    return err;
  }
  file_bytes_ += len;
  has_records_ = true;
  return 0;
}

bool LaneFile::lane_dir_moved() const { return is_moved(lane_dir_, dir_fd_); }

void LaneFile::tick(uint64_t now_ns) {
  retry_renames();
  if (fd_ < 0) return;
  if (lane_dir_moved()) {
    spdlog::warn("lane {}: {} is no longer the directory holding {}; completing it there",
                 options_.lane_name, lane_dir_.string(), part_name_);
    complete();
    return;
  }
  if (options_.rotate_seconds != 0 &&
      now_ns >= opened_ns_ + uint64_t{options_.rotate_seconds} * kNsPerSec)
    complete();
}

void LaneFile::complete() { complete(/*keep_spare=*/false); }

void LaneFile::complete(bool keep_spare) {
  if (fd_ < 0) return;
  Unrenamed u{dir_fd_, std::move(part_name_), std::move(final_name_)};
  const int fd = fd_;
  fd_ = -1;
  dir_fd_ = -1;
  // A reused file: its end marker and older bytes go.
  if (stale_end_ != 0 && ::ftruncate(fd, static_cast<off_t>(file_bytes_)) != 0) {
    spdlog::warn("lane {}: cannot cut {} to its records: {}; readers stop at its end marker",
                 options_.lane_name, u.part_name, std::strerror(errno));
  }
  stale_end_ = 0;
  struct stat st;
  const bool deleted = ::fstat(fd, &st) == 0 && st.st_nlink == 0;
  if (::close(fd) != 0) {
    spdlog::warn("lane {}: close {}: {}", options_.lane_name, u.part_name, std::strerror(errno));
  }
  if (deleted || !has_records_) {
    // Gone already, or only a header (every append failed): not worth a file.
    if (!deleted) ::unlinkat(u.dir_fd, u.part_name.c_str(), 0);
    ::close(u.dir_fd);
    return;
  }
  if (!try_rename(u, keep_spare)) {
    spdlog::error("lane {}: cannot rename {} in {}: {}; retrying", options_.lane_name, u.part_name,
                  lane_dir_.string(), std::strerror(u.error));
    unrenamed_.push_back(std::move(u));
  }
}

bool LaneFile::try_rename(Unrenamed& u, bool keep_spare) {
  int rc =
      ::renameat2(u.dir_fd, u.part_name.c_str(), u.dir_fd, u.final_name.c_str(), RENAME_NOREPLACE);
  if (rc != 0 && errno == EINVAL) {  // no RENAME_NOREPLACE on this file system
    rc = ::renameat(u.dir_fd, u.part_name.c_str(), u.dir_fd, u.final_name.c_str());
  }
  const int err = rc == 0 ? 0 : errno;
  if (err != 0 && err != ENOENT && err != EEXIST) {
    u.error = err;
    return false;  // try again later
  }
  // Where the file is now: lane_dir_ as configured, or wherever the directory
  // was moved to (the kernel's name for it).
  fs::path dir = lane_dir_;
  if (is_moved(lane_dir_, u.dir_fd)) {
    char where[PATH_MAX];
    const std::string link = "/proc/self/fd/" + std::to_string(u.dir_fd);
    const ssize_t n = ::readlink(link.c_str(), where, sizeof(where) - 1);
    if (n > 0 && where[0] == '/') dir = std::string(where, static_cast<size_t>(n));
  }
  ::close(u.dir_fd);
  u.dir_fd = -1;
  if (err != 0) {
    spdlog::error("lane {}: cannot rename {} in {}: {}; given up", options_.lane_name, u.part_name,
                  dir.string(), std::strerror(err));
    return true;
  }
  if (u.error != 0) spdlog::info("lane {}: renamed {} after all", options_.lane_name, u.final_name);
  const fs::path final_path = dir / u.final_name;
  files_completed_.store(files_completed_.load(std::memory_order_relaxed) + 1,
                         std::memory_order_relaxed);
  if (options_.ring_files != 0) ring_.push_back(final_path);
  completed_.add(final_path, options_.post_rotate_command);
  enforce_ring(keep_spare);
  return true;
}

void LaneFile::retry_renames() {
  std::erase_if(unrenamed_, [this](Unrenamed& u) { return try_rename(u); });
}

void LaneFile::enforce_ring(bool keep_spare) {
  if (options_.ring_files == 0) return;
  // Files someone else removed (disk cap, an uploader) no longer take a slot.
  std::erase_if(ring_, [this](const fs::path& p) {
    if (!vanished(p)) return false;
    completed_.forget(p);
    return true;
  });
  if (keep_spare && spare_.empty() && ring_.size() > options_.ring_files) {
    // Out of the ring as if deleted; open_file writes over it or deletes it.
    spare_ = std::move(ring_.front());
    ring_.pop_front();
    completed_.forget(spare_);
    files_deleted_by_ring_.store(files_deleted_by_ring_.load(std::memory_order_relaxed) + 1,
                                 std::memory_order_relaxed);
  }
  while (ring_.size() > options_.ring_files) delete_oldest_ring_file();
}

bool LaneFile::delete_oldest_ring_file() {
  if (options_.ring_files == 0 || ring_.empty()) return false;
  const fs::path oldest = std::move(ring_.front());
  ring_.pop_front();
  if (::unlink(oldest.c_str()) == 0) {
    files_deleted_by_ring_.store(files_deleted_by_ring_.load(std::memory_order_relaxed) + 1,
                                 std::memory_order_relaxed);
  } else if (errno != ENOENT) {
    spdlog::warn("lane {}: cannot delete {}: {}", options_.lane_name, oldest.string(),
                 std::strerror(errno));
  }
  completed_.forget(oldest);
  return true;
}

uint64_t LaneFile::files_completed() const {
  return files_completed_.load(std::memory_order_relaxed);
}

uint64_t LaneFile::files_deleted_by_ring() const {
  return files_deleted_by_ring_.load(std::memory_order_relaxed);
}

uint64_t LaneFile::files_reused() const { return files_reused_.load(std::memory_order_relaxed); }

const LaneFileOptions& LaneFile::options() const { return options_; }

}  // namespace vxc
