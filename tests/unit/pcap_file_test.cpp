// LaneFile / CompletedFiles on a real file system, judged by capinfos and tshark.
#include "collector/pcap_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace vxc {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kNsPerSec = 1000000000u;
constexpr uint64_t kTs0 = 1700000000123456789ull;  // 2023-11-14T22:13:20.123456789Z

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * kNsPerSec + uint64_t(ts.tv_nsec);
}

std::string utc_stamp(uint64_t ns) {
  const time_t sec = time_t(ns / kNsPerSec);
  tm utc;
  gmtime_r(&sec, &utc);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &utc);
  return buf;
}

const char* ext(PcapFormat format) { return format == PcapFormat::pcapng ? ".pcapng" : ".pcap"; }

// ---------------------------------------------------------------------------
// Records

struct Packet {
  uint64_t ts_ns;
  uint32_t caplen;
  uint32_t orig_len;
  uint16_t id;
};

struct Block {
  std::vector<uint8_t> bytes;
  std::vector<Packet> packets;
};

// `count` records with ids first_id.. (the id is in the Ethernet source MAC,
// so a misaligned record shows up in tshark), orig_len 60..1514.
Block make_block(PcapFormat format, uint32_t snaplen, size_t count, uint16_t first_id = 0,
                 uint64_t ts0 = kTs0) {
  Block b;
  for (size_t i = 0; i < count; ++i) {
    Packet p;
    p.id = uint16_t(first_id + i);
    p.ts_ns = ts0 + uint64_t(p.id) * 1234567;
    p.orig_len = 60 + (uint32_t(p.id) * 97) % 1455;
    p.caplen = std::min(p.orig_len, snaplen);
    const size_t at = b.bytes.size();
    b.bytes.resize(at + record_size(format, p.caplen));
    uint8_t* data = begin_record(format, b.bytes.data() + at, p.ts_ns, p.caplen, p.orig_len);
    // dst 02:00:00:00:00:01, src 02:00:00:00:<id>, ethertype 0x88b5, then filler.
    uint8_t eth[14] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0x88, 0xb5};
    eth[10] = uint8_t(p.id >> 8);
    eth[11] = uint8_t(p.id);
    for (uint32_t k = 0; k < p.caplen; ++k) data[k] = k < 14 ? eth[k] : uint8_t(p.id + k);
    finish_record(format, b.bytes.data() + at, p.caplen);
    b.packets.push_back(p);
  }
  return b;
}

// As many records as fit in `max_bytes` (the writer's ~64 KiB blocks).
Block make_block_bytes(PcapFormat format, uint32_t snaplen, size_t max_bytes,
                       uint16_t first_id = 0) {
  size_t count = 0;
  size_t bytes = 0;
  for (;;) {
    const uint32_t orig = 60 + (uint32_t(uint16_t(first_id + count)) * 97) % 1455;
    const size_t next = record_size(format, std::min(orig, snaplen));
    if (bytes + next > max_bytes) break;
    bytes += next;
    ++count;
  }
  return make_block(format, snaplen, count, first_id);
}

// What tshark prints for a packet: frame.len, frame.cap_len, frame.time_epoch, eth.src.
std::string expected_line(PcapFormat format, const Packet& p) {
  uint64_t frac = p.ts_ns % kNsPerSec;
  if (format == PcapFormat::pcap_usec) frac = frac / 1000 * 1000;
  char buf[128];
  snprintf(buf, sizeof(buf), "%u\t%u\t%llu.%09llu\t02:00:00:00:%02x:%02x", p.orig_len, p.caplen,
           (unsigned long long)(p.ts_ns / kNsPerSec), (unsigned long long)frac, p.id >> 8,
           p.id & 0xff);
  return buf;
}

// ---------------------------------------------------------------------------
// Judges

struct RunResult {
  int status = -1;
  std::string out;
};

RunResult run(const std::string& cmd) {
  RunResult r;
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) r.out.append(buf, n);
  r.status = pclose(f);
  return r;
}

std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

struct CapInfo {
  int status = -1;
  uint64_t packets = 0;
  uint32_t snaplen = 0;   // the interface's capture length (file header / IDB)
  std::string encap;      // "ether"
  std::string precision;  // "microseconds (6)" / "nanoseconds (9)"
  std::string type;       // "pcap" / "nsecpcap" / "pcapng"
};

std::string after(const std::string& text, const std::string& key) {
  const size_t at = text.find(key);
  if (at == std::string::npos) return "";
  const size_t start = text.find_first_not_of(' ', at + key.size());
  return text.substr(start, text.find('\n', start) - start);
}

CapInfo capinfos(const fs::path& file) {
  const RunResult r = run("capinfos -M -t -E -c -I " + quote(file) + " 2>&1");
  CapInfo c;
  c.status = r.status;
  c.packets = std::strtoull(after(r.out, "Number of packets:").c_str(), nullptr, 10);
  c.snaplen = uint32_t(std::strtoul(after(r.out, "Capture length =").c_str(), nullptr, 10));
  c.encap = after(r.out, "File encapsulation:");
  c.precision = after(r.out, "Time precision =");
  c.type = after(r.out, "File type:");
  return c;
}

// One line per packet; status != 0 when tshark finds the file damaged.
RunResult tshark(const fs::path& file) {
  return run("tshark -r " + quote(file) +
             " -T fields -e frame.len -e frame.cap_len -e frame.time_epoch -e eth.src"
             " 2>/dev/null");
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Sorted file names in `dir` (empty when it does not exist).
std::vector<std::string> list(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> with_suffix(const std::vector<std::string>& names,
                                     const std::string& suffix) {
  std::vector<std::string> out;
  for (const auto& n : names)
    if (n.ends_with(suffix)) out.push_back(n);
  return out;
}

void write_file(const fs::path& p, const std::string& content) {
  std::ofstream(p, std::ios::binary) << content;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

uint64_t free_bytes(const fs::path& p) {
  struct statvfs v;
  if (statvfs(p.c_str(), &v) != 0) return 0;
  return uint64_t(v.f_bavail) * v.f_frsize;
}

// Waits up to 10 s for `done`, reaping post-rotate commands meanwhile.
template <typename F>
bool wait_for(CompletedFiles& completed, F done) {
  for (int i = 0; i < 1000; ++i) {
    completed.reap();
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// ---------------------------------------------------------------------------
// Fixture: a fresh temp dir per test (kept when the test fails), optional tmpfs.

class PcapFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pcap_file_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << strerror(errno);
    dir_ = tmpl;
    out_ = dir_ / "out";
    fs::create_directories(out_);  // the output directory exists (the program makes it at start)
  }

  void TearDown() override {
    for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it) umount2(it->c_str(), MNT_DETACH);
    if (HasFailure()) {
      printf("keeping %s for inspection\n", dir_.c_str());
    } else {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }

  // Mounts a tmpfs of `size` (e.g. "1m") at `where`; empty string on success,
  // otherwise why not.
  std::string mount_tmpfs(const fs::path& where, const std::string& size) {
    if (geteuid() != 0) return "not root, cannot mount a tmpfs";
    fs::create_directories(where);
    const std::string opts = "size=" + size + ",mode=0755";
    if (mount("tmpfs", where.c_str(), "tmpfs", 0, opts.c_str()) != 0) {
      return std::string("mount -t tmpfs failed: ") + strerror(errno);
    }
    mounts_.push_back(where);
    return "";
  }

  LaneFileOptions opts(const std::string& lane, PcapFormat format = PcapFormat::pcap_usec,
                       uint32_t snaplen = 128) {
    LaneFileOptions o;
    o.lane_name = lane;
    o.format = format;
    o.snaplen = snaplen;
    return o;
  }

  fs::path dir_;
  fs::path out_;
  std::vector<fs::path> mounts_;
};

const std::regex kCompletedName(R"(^lane-(\d{8}T\d{6}Z)-(\d{6})\.(pcap|pcapng)$)");

// ---------------------------------------------------------------------------
// Formats: every format opens in capinfos and tshark with the right counts,
// snaplen, lengths, timestamps and data.

class PcapFileFormatTest : public PcapFileTest, public ::testing::WithParamInterface<PcapFormat> {};

TEST_P(PcapFileFormatTest, ReadersSeeEveryRecordExactly) {
  const PcapFormat format = GetParam();
  constexpr uint32_t kSnaplen = 96;
  std::vector<Packet> all;
  {
    CompletedFiles completed(out_, 0);
    LaneFile lane(out_, opts("lane", format, kSnaplen), completed);
    for (uint16_t first = 0; first < 150; first += 50) {
      // Odd sizes (61, 158, ...) exercise the pcapng padding.
      const Block b = make_block(format, kSnaplen, 50, first);
      ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
      all.insert(all.end(), b.packets.begin(), b.packets.end());
    }
    lane.complete();
    EXPECT_EQ(lane.files_completed(), 1u);
  }
  const auto names = list(out_ / "lane");
  ASSERT_EQ(names.size(), 1u);
  EXPECT_TRUE(std::regex_match(names[0], kCompletedName)) << names[0];
  EXPECT_TRUE(names[0].ends_with(ext(format))) << names[0];
  const fs::path file = out_ / "lane" / names[0];

  const CapInfo c = capinfos(file);
  EXPECT_EQ(c.status, 0);
  EXPECT_EQ(c.packets, 150u);
  EXPECT_EQ(c.snaplen, kSnaplen);
  EXPECT_EQ(c.encap, "ether");
  EXPECT_EQ(c.type, format == PcapFormat::pcap_usec   ? "pcap"
                    : format == PcapFormat::pcap_nsec ? "nsecpcap"
                                                      : "pcapng");
  EXPECT_EQ(c.precision, format == PcapFormat::pcap_usec ? "microseconds (6)" : "nanoseconds (9)");

  const RunResult t = tshark(file);
  EXPECT_EQ(t.status, 0);
  const auto got = lines(t.out);
  ASSERT_EQ(got.size(), all.size());
  int truncated = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(got[i], expected_line(format, all[i])) << "packet " << i;
    truncated += all[i].caplen < all[i].orig_len;
  }
  EXPECT_GT(truncated, 100);  // most frames are longer than the snaplen
}

INSTANTIATE_TEST_SUITE_P(AllFormats, PcapFileFormatTest,
                         ::testing::Values(PcapFormat::pcap_usec, PcapFormat::pcap_nsec,
                                           PcapFormat::pcapng),
                         [](const auto& info) {
                           return std::string(info.param == PcapFormat::pcap_usec   ? "pcap_usec"
                                              : info.param == PcapFormat::pcap_nsec ? "pcap_nsec"
                                                                                    : "pcapng");
                         });

// ---------------------------------------------------------------------------
// Naming

TEST_F(PcapFileTest, PartWhileOpenRenamedOnComplete) {
  CompletedFiles completed(out_, 0);
  LaneFile lane(out_, opts("lane", PcapFormat::pcapng), completed);
  EXPECT_TRUE(list(out_ / "lane").empty()) << "no file before the first append";

  const uint64_t before = now_ns();
  const Block b = make_block(PcapFormat::pcapng, 128, 10);
  ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
  const uint64_t after_open = now_ns();

  auto names = list(out_ / "lane");
  ASSERT_EQ(names.size(), 1u);
  const std::string part = names[0];
  ASSERT_TRUE(part.ends_with(".pcapng.part")) << part;
  const std::string final_name = part.substr(0, part.size() - 5);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(final_name, m, kCompletedName)) << final_name;
  EXPECT_GE(m[1].str(), utc_stamp(before));  // start time of the file, UTC
  EXPECT_LE(m[1].str(), utc_stamp(after_open));
  EXPECT_EQ(m[2].str(), "000001");

  lane.complete();
  names = list(out_ / "lane");
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0], final_name);
  EXPECT_EQ(capinfos(out_ / "lane" / final_name).packets, 10u);

  lane.complete();  // nothing open: no-op
  EXPECT_EQ(lane.files_completed(), 1u);
  EXPECT_EQ(list(out_ / "lane").size(), 1u);
}

TEST_F(PcapFileTest, DestructorCompletesTheOpenFile) {
  {
    CompletedFiles completed(out_, 0);
    LaneFile lane(out_, opts("lane"), completed);
    const Block b = make_block(PcapFormat::pcap_usec, 128, 3);
    ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
  }
  const auto names = list(out_ / "lane");
  ASSERT_EQ(names.size(), 1u);
  EXPECT_TRUE(std::regex_match(names[0], kCompletedName)) << names[0];
}

TEST_F(PcapFileTest, InvalidLaneNamesAreRejected) {
  CompletedFiles completed(out_, 0);
  for (const char* bad : {"", ".", "..", "a/b"}) {
    EXPECT_THROW(LaneFile(out_, opts(bad), completed), std::invalid_argument) << bad;
  }
}

// ---------------------------------------------------------------------------
// Rotation

TEST_F(PcapFileTest, SizeRotationKeepsEveryFileUnderTheLimit) {
  constexpr uint64_t kLimit = 10000;
  CompletedFiles completed(out_, 0);
  LaneFileOptions o = opts("lane", PcapFormat::pcap_nsec);
  o.rotate_bytes = kLimit;
  LaneFile lane(out_, o, completed);
  uint64_t packets = 0;
  uint64_t bytes = 0;
  for (uint16_t i = 0; i < 40; ++i) {
    const Block b = make_block(PcapFormat::pcap_nsec, 128, 1 + i % 30, uint16_t(i * 30));
    ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
    packets += b.packets.size();
    bytes += b.bytes.size();
  }
  lane.complete();

  const auto names = list(out_ / "lane");
  EXPECT_EQ(lane.files_completed(), names.size());
  // Every file is as full as the limit allows, so there cannot be many more
  // than bytes / limit of them.
  EXPECT_GE(names.size(), bytes / kLimit);
  EXPECT_LE(names.size(), 2 * bytes / kLimit + 1);
  uint64_t seen = 0;
  int expected_seq = 1;
  for (const auto& n : names) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(n, m, kCompletedName)) << n;
    EXPECT_EQ(std::stoi(m[2].str()), expected_seq++);
    const fs::path p = out_ / "lane" / n;
    EXPECT_LE(fs::file_size(p), kLimit) << n;
    const CapInfo c = capinfos(p);
    EXPECT_EQ(c.status, 0) << n;
    EXPECT_GT(c.packets, 0u) << n;
    seen += c.packets;
  }
  EXPECT_EQ(seen, packets);
}

TEST_F(PcapFileTest, AppendLargerThanTheLimitStillGetsWritten) {
  CompletedFiles completed(out_, 0);
  LaneFileOptions o = opts("lane");
  o.rotate_bytes = 1000;
  LaneFile lane(out_, o, completed);
  const Block big = make_block(PcapFormat::pcap_usec, 128, 20);  // ~2.9 KB
  ASSERT_EQ(lane.append(big.bytes.data(), big.bytes.size()), 0);
  ASSERT_EQ(lane.append(big.bytes.data(), big.bytes.size()), 0);
  lane.complete();
  const auto names = list(out_ / "lane");
  ASSERT_EQ(names.size(), 2u);  // one oversized append per file, nothing lost
  for (const auto& n : names) EXPECT_EQ(capinfos(out_ / "lane" / n).packets, 20u);
}

TEST_F(PcapFileTest, TimeRotationFollowsTheGivenClock) {
  CompletedFiles completed(out_, 0);
  LaneFileOptions o = opts("lane");
  o.rotate_seconds = 60;
  LaneFile lane(out_, o, completed);
  lane.tick(now_ns() + 3600 * kNsPerSec);  // nothing open: nothing to do
  EXPECT_EQ(lane.files_completed(), 0u);

  const uint64_t before = now_ns();
  const Block b = make_block(PcapFormat::pcap_usec, 128, 5);
  ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
  const uint64_t after_open = now_ns();

  lane.tick(before);
  lane.tick(before + 59 * kNsPerSec);
  EXPECT_EQ(lane.files_completed(), 0u);
  EXPECT_EQ(with_suffix(list(out_ / "lane"), ".part").size(), 1u);

  lane.tick(after_open + 60 * kNsPerSec);
  EXPECT_EQ(lane.files_completed(), 1u);
  EXPECT_TRUE(with_suffix(list(out_ / "lane"), ".part").empty());

  // The next append opens the next file; its clock starts then.
  ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
  lane.tick(after_open + 60 * kNsPerSec);
  EXPECT_EQ(lane.files_completed(), 1u);
  lane.tick(now_ns() + 61 * kNsPerSec);
  EXPECT_EQ(lane.files_completed(), 2u);
  EXPECT_EQ(with_suffix(list(out_ / "lane"), ".pcap").size(), 2u);
}

TEST_F(PcapFileTest, NoTimeRotationWhenRotateSecondsIsZero) {
  CompletedFiles completed(out_, 0);
  LaneFile lane(out_, opts("lane"), completed);
  const Block b = make_block(PcapFormat::pcap_usec, 128, 5);
  ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
  lane.tick(now_ns() + 365 * 24 * 3600 * kNsPerSec);
  EXPECT_EQ(lane.files_completed(), 0u);
}

// ---------------------------------------------------------------------------
// Ring and sequence numbers

TEST_F(PcapFileTest, RingDeletesOldestIncludingFilesOfAPreviousRun) {
  // A previous run left three completed files and one of another lane.
  fs::create_directories(out_ / "lane");
  fs::create_directories(out_ / "other");
  const std::vector<std::string> previous = {"lane-20200101T000000Z-000001.pcap",
                                             "lane-20200101T000100Z-000002.pcap",
                                             "lane-20200101T000200Z-000003.pcap"};
  for (const auto& n : previous) write_file(out_ / "lane" / n, "old");
  write_file(out_ / "other" / "other-20190101T000000Z-000001.pcap", "keep");
  write_file(out_ / "lane" / "notes.txt", "keep");

  CompletedFiles completed(out_, UINT64_MAX / 2);  // disk cap only used to check forget() below
  LaneFileOptions o = opts("lane");
  o.ring_files = 4;
  LaneFile lane(out_, o, completed);
  const Block b = make_block(PcapFormat::pcap_usec, 128, 5);
  std::vector<std::string> written;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
    const std::string part = with_suffix(list(out_ / "lane"), ".part").at(0);
    written.push_back(part.substr(0, part.size() - 5));
    lane.complete();
    // 3 old + i + 1 new completed, at most 4 kept.
    EXPECT_EQ(lane.files_deleted_by_ring(), uint64_t(std::max(0, 3 + i + 1 - 4))) << i;
  }
  // New files continue the previous run's numbering.
  EXPECT_TRUE(written[0].ends_with("-000004.pcap")) << written[0];

  auto names = list(out_ / "lane");
  std::erase(names, "notes.txt");
  const std::vector<std::string> newest(written.begin() + 1, written.end());
  EXPECT_EQ(names, newest);
  EXPECT_EQ(read_file(out_ / "other" / "other-20190101T000000Z-000001.pcap"), "keep");
  EXPECT_EQ(read_file(out_ / "lane" / "notes.txt"), "keep");

  // The ring forgot what it deleted: even when those names reappear, the disk
  // cap deletes exactly the 4 kept files plus the other lane's one.
  const std::vector<std::string> deleted = {previous[0], previous[1], previous[2], written[0]};
  for (const auto& n : deleted) write_file(out_ / "lane" / n, "restored");
  EXPECT_EQ(completed.enforce_disk_cap(), 5u);
  for (const auto& n : deleted) EXPECT_TRUE(fs::exists(out_ / "lane" / n)) << n;
}

TEST_F(PcapFileTest, FilesRemovedByOthersDoNotTakeARingSlot) {
  CompletedFiles completed(out_, 0);
  LaneFileOptions o = opts("lane");
  o.ring_files = 2;
  LaneFile lane(out_, o, completed);
  const Block b = make_block(PcapFormat::pcap_usec, 128, 2);
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
    lane.complete();
  }
  const auto before = list(out_ / "lane");
  ASSERT_EQ(before.size(), 2u);
  fs::remove(out_ / "lane" / before[1]);  // an uploader moved the newest away
  ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
  lane.complete();
  EXPECT_EQ(list(out_ / "lane").size(), 2u);
  EXPECT_EQ(lane.files_deleted_by_ring(), 0u);
}

TEST_F(PcapFileTest, SeqNeverReusedAcrossInstancesOrAfterACrash) {
  CompletedFiles completed(out_, 0);
  const Block b = make_block(PcapFormat::pcap_usec, 128, 2);
  {
    LaneFile first(out_, opts("lane"), completed);
    for (int i = 0; i < 2; ++i) {
      ASSERT_EQ(first.append(b.bytes.data(), b.bytes.size()), 0);
      first.complete();
    }
  }
  // A crashed run left seq 7 as .part; decoys that are not this lane's files.
  write_file(out_ / "lane" / "lane-20200101T000000Z-000007.pcap.part", "x");
  write_file(out_ / "lane" / "lanex-20200101T000000Z-000099.pcap", "x");
  write_file(out_ / "lane" / "lane-20200101T000000Z-000050.txt", "x");
  write_file(out_ / "lane" / "lane-2020-000060.pcap", "x");
  {
    LaneFile second(out_, opts("lane"), completed);
    ASSERT_EQ(second.append(b.bytes.data(), b.bytes.size()), 0);
    second.complete();
    ASSERT_EQ(second.append(b.bytes.data(), b.bytes.size()), 0);
  }
  std::vector<std::string> seqs;
  for (const auto& n : list(out_ / "lane")) {
    std::smatch m;
    if (std::regex_match(n, m, kCompletedName)) seqs.push_back(m[2]);
  }
  EXPECT_EQ(seqs, (std::vector<std::string>{"000001", "000002", "000008", "000009"}));
}

TEST_F(PcapFileTest, SymlinkAtTheNextNameIsNotFollowed) {
  CompletedFiles completed(out_, 0);
  LaneFile lane(out_, opts("lane"), completed);
  const fs::path victim = dir_ / "victim";
  write_file(victim, "untouched");
  fs::create_directories(out_ / "lane");
  // Plant symlinks at every name seq 1 (.part) and seq 2 (final) could get in
  // the next seconds.
  const uint64_t now = now_ns();
  for (int s = -2; s <= 10; ++s) {
    const std::string stamp = utc_stamp(now + uint64_t(int64_t(s) * int64_t(kNsPerSec)));
    fs::create_symlink(victim, out_ / "lane" / ("lane-" + stamp + "-000001.pcap.part"));
    fs::create_symlink(victim, out_ / "lane" / ("lane-" + stamp + "-000002.pcap"));
  }
  const Block b = make_block(PcapFormat::pcap_usec, 128, 4);
  ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
  lane.complete();
  EXPECT_EQ(read_file(victim), "untouched");

  std::vector<std::string> regular;
  for (const auto& e : fs::directory_iterator(out_ / "lane")) {
    if (fs::is_symlink(e.symlink_status())) continue;
    regular.push_back(e.path().filename());
  }
  ASSERT_EQ(regular.size(), 1u);
  EXPECT_TRUE(regular[0].ends_with("-000003.pcap")) << regular[0];
  EXPECT_EQ(capinfos(out_ / "lane" / regular[0]).packets, 4u);
}

// ---------------------------------------------------------------------------
// Modes

TEST_F(PcapFileTest, FileAndLaneDirectoryModesIgnoreTheUmask) {
  const mode_t old_umask = umask(077);
  const fs::path out = dir_ / "a" / "b";
  fs::create_directories(out);
  fs::permissions(dir_ / "a", fs::perms(0751));
  fs::permissions(out, fs::perms(0751));
  {
    CompletedFiles completed(out, 0);
    LaneFileOptions o = opts("lane");
    o.file_mode = 0644;
    o.dir_mode = 0751;
    LaneFile lane(out, o, completed);
    const Block b = make_block(PcapFormat::pcap_usec, 128, 2);
    ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
    const auto part = with_suffix(list(out / "lane"), ".part");
    ASSERT_EQ(part.size(), 1u);
    struct stat st;
    ASSERT_EQ(stat((out / "lane" / part[0]).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0644u);
    lane.complete();
  }
  umask(old_umask);
  struct stat dir_st;
  ASSERT_EQ(stat((out / "lane").c_str(), &dir_st), 0);
  EXPECT_EQ(dir_st.st_mode & 07777, 0751u);
  const auto names = list(out / "lane");
  ASSERT_EQ(names.size(), 1u);
  struct stat st;
  ASSERT_EQ(stat((out / "lane" / names[0]).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
}

// ---------------------------------------------------------------------------
// Disk cap

TEST_F(PcapFileTest, DiskCapDeletesEveryCompletedFileWhenFreeSpaceCannotBeReached) {
  // Earlier runs in two lanes; things that are not completed captures.
  fs::create_directories(out_ / "lane");
  fs::create_directories(out_ / "b");
  write_file(out_ / "lane" / "lane-20200101T000000Z-000001.pcap", "old");
  write_file(out_ / "b" / "b-20200101T000000Z-000001.pcapng", "old");
  write_file(out_ / "b" / "b-20200101T000000Z-000002.pcapng.part", "crashed");
  write_file(out_ / "b" / "readme.txt", "keep");
  write_file(out_ / "b" / "c-20200101T000000Z-000001.pcap", "other lane's name");

  CompletedFiles completed(out_, free_bytes(dir_) + (uint64_t(1) << 40));
  LaneFile lane(out_, opts("lane"), completed);
  const Block b = make_block(PcapFormat::pcap_usec, 128, 3);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
    lane.complete();
  }
  ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);  // stays open

  EXPECT_EQ(completed.enforce_disk_cap(), 5u);
  EXPECT_EQ(completed.files_deleted_for_space(), 5u);
  EXPECT_EQ(completed.enforce_disk_cap(), 0u);  // nothing left to delete
  EXPECT_EQ(list(out_ / "b"),
            (std::vector<std::string>{"b-20200101T000000Z-000002.pcapng.part",
                                      "c-20200101T000000Z-000001.pcap", "readme.txt"}));
  const auto left = list(out_ / "lane");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_TRUE(left[0].ends_with(".part")) << "the open file is not a completed file";
}

TEST_F(PcapFileTest, ForgottenFilesAreNotDeletedForSpace) {
  fs::create_directories(out_ / "x");
  CompletedFiles completed(out_, UINT64_MAX / 2);
  for (const char* n : {"a", "b", "c"}) {
    write_file(out_ / "x" / n, n);
    completed.add(out_ / "x" / n, "");
  }
  completed.forget(out_ / "x" / "b");
  completed.forget(out_ / "x" / "not-recorded");
  EXPECT_EQ(completed.enforce_disk_cap(), 2u);
  EXPECT_EQ(list(out_ / "x"), std::vector<std::string>{"b"});
}

TEST_F(PcapFileTest, DiskCapOnTmpfsTakesEarlierRunsOldestFirstAcrossLanes) {
  const fs::path mnt = dir_ / "mnt";
  if (const std::string why = mount_tmpfs(mnt, "1m"); !why.empty()) GTEST_SKIP() << why;
  // Four earlier-run files of 200 KiB, start times interleaved across lanes.
  const std::vector<fs::path> by_age = {
      mnt / "b" / "b-20200101T000100Z-000001.pcap", mnt / "a" / "a-20200101T000200Z-000001.pcap",
      mnt / "b" / "b-20200101T000300Z-000002.pcap", mnt / "a" / "a-20200101T000400Z-000002.pcap"};
  for (auto it = by_age.rbegin(); it != by_age.rend(); ++it) {
    fs::create_directories(it->parent_path());
    write_file(*it, std::string(200 * 1024, 'x'));
  }
  ASSERT_LT(free_bytes(mnt), 300u * 1024);
  CompletedFiles completed(mnt, 500 * 1024);  // needs two files gone
  EXPECT_EQ(completed.enforce_disk_cap(), 2u);
  EXPECT_FALSE(fs::exists(by_age[0]));
  EXPECT_FALSE(fs::exists(by_age[1]));
  EXPECT_TRUE(fs::exists(by_age[2]));
  EXPECT_TRUE(fs::exists(by_age[3]));
}

TEST_F(PcapFileTest, DiskCapDisabledWithZero) {
  CompletedFiles completed(out_, 0);
  LaneFile lane(out_, opts("lane"), completed);
  const Block b = make_block(PcapFormat::pcap_usec, 128, 3);
  ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
  lane.complete();
  EXPECT_EQ(completed.enforce_disk_cap(), 0u);
  EXPECT_EQ(list(out_ / "lane").size(), 1u);
}

TEST_F(PcapFileTest, DiskCapOnTmpfsDeletesOldestFirstAndStopsAtTheCap) {
  const fs::path mnt = dir_ / "mnt";
  if (const std::string why = mount_tmpfs(mnt, "2m"); !why.empty()) GTEST_SKIP() << why;
  const fs::path out = mnt / "out";
  constexpr uint64_t kMinFree = 1 << 20;
  // An earlier run's file, older than anything lane "a" writes; its lane
  // sorts after "a" by name, so only time order deletes it first.
  fs::create_directories(out / "old");
  const fs::path old_file = out / "old" / "old-20000101T000000Z-000001.pcap";
  write_file(old_file, std::string(256 * 1024, 'x'));

  CompletedFiles completed(out, kMinFree);
  LaneFileOptions o = opts("a");
  o.rotate_bytes = 200000;
  LaneFile lane(out, o, completed);
  const Block b = make_block_bytes(PcapFormat::pcap_usec, 128, 64 * 1024);
  for (int i = 0; i < 19; ++i) ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0) << i;
  auto completed_files = with_suffix(list(out / "a"), ".pcap");
  ASSERT_EQ(completed_files.size(), 6u);
  ASSERT_LT(free_bytes(out), kMinFree);
  std::vector<uint64_t> disk_use;  // bytes each completed file holds on disk
  for (const auto& n : completed_files) {
    struct stat st;
    ASSERT_EQ(stat((out / "a" / n).c_str(), &st), 0);
    disk_use.push_back(uint64_t(st.st_blocks) * 512);
  }

  const uint64_t deleted = completed.enforce_disk_cap();
  const uint64_t free_after = free_bytes(out);
  EXPECT_GE(free_after, kMinFree);
  EXPECT_FALSE(fs::exists(old_file));
  ASSERT_GE(deleted, 2u);
  const size_t deleted_of_a = deleted - 1;
  ASSERT_LT(deleted_of_a, completed_files.size()) << "deleted more than needed";
  // Oldest first: exactly the newest files of lane a remain...
  const std::vector<std::string> newest(completed_files.begin() + long(deleted_of_a),
                                        completed_files.end());
  EXPECT_EQ(with_suffix(list(out / "a"), ".pcap"), newest);
  // ...and it stopped as soon as the cap was met.
  EXPECT_LT(free_after - disk_use[deleted_of_a - 1], kMinFree);
  EXPECT_EQ(with_suffix(list(out / "a"), ".part").size(), 1u);
  EXPECT_EQ(completed.files_deleted_for_space(), deleted);
}

// ---------------------------------------------------------------------------
// Write and open failures

TEST_F(PcapFileTest, FullDiskCutsBackToWholeRecordsAndResumesWhenSpaceReturns) {
  const fs::path mnt = dir_ / "mnt";
  if (const std::string why = mount_tmpfs(mnt, "1m"); !why.empty()) GTEST_SKIP() << why;
  const fs::path filler = mnt / "filler";
  write_file(filler, std::string(300 * 1024, 'f'));

  fs::create_directories(mnt / "out");
  CompletedFiles completed(mnt / "out", 0);
  LaneFile lane(mnt / "out", opts("lane", PcapFormat::pcapng), completed);
  const Block b = make_block_bytes(PcapFormat::pcapng, 128, 64 * 1024);
  int ok = 0;
  int err = 0;
  uint64_t size_ok = 0;
  fs::path part;
  for (int i = 0; i < 40 && err == 0; ++i) {
    err = lane.append(b.bytes.data(), b.bytes.size());
    if (err == 0) {
      ++ok;
      part = mnt / "out" / "lane" / with_suffix(list(mnt / "out" / "lane"), ".part").at(0);
      size_ok = fs::file_size(part);
    }
  }
  ASSERT_EQ(err, ENOSPC);
  ASSERT_GT(ok, 3);
  // The partial write was cut back: the file holds whole records only.
  EXPECT_EQ(fs::file_size(part), size_ok);
  CapInfo c = capinfos(part);
  EXPECT_EQ(c.status, 0);
  EXPECT_EQ(c.packets, ok * b.packets.size());

  EXPECT_EQ(lane.append(b.bytes.data(), b.bytes.size()), ENOSPC);  // still full
  EXPECT_EQ(fs::file_size(part), size_ok);

  fs::remove(filler);
  ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);  // resumes in the same file
  lane.complete();
  const auto names = list(mnt / "out" / "lane");
  ASSERT_EQ(names.size(), 1u);
  const fs::path file = mnt / "out" / "lane" / names[0];
  c = capinfos(file);
  EXPECT_EQ(c.status, 0);
  EXPECT_EQ(c.packets, (ok + 1) * b.packets.size());
  const RunResult t = tshark(file);
  EXPECT_EQ(t.status, 0);
  EXPECT_EQ(lines(t.out).size(), (ok + 1) * b.packets.size());
}

TEST_F(PcapFileTest, FullDiskWithARingDeletesTheRingsOldestFileAndWritesOn) {
  const fs::path mnt = dir_ / "mnt";
  if (const std::string why = mount_tmpfs(mnt, "1m"); !why.empty()) GTEST_SKIP() << why;
  fs::create_directories(mnt / "out");
  CompletedFiles completed(mnt / "out", 0);
  LaneFileOptions o = opts("lane");
  o.rotate_bytes = 200 * 1024;
  o.ring_files = 10;  // more than fit: only a full disk makes the ring delete
  LaneFile lane(mnt / "out", o, completed);
  const Block b = make_block_bytes(PcapFormat::pcap_usec, 128, 64 * 1024);
  // 1 MiB of tmpfs holds about 4 files of 200 KiB: keep writing well past that.
  for (int i = 0; i < 60; ++i)
    ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0) << "append " << i;
  lane.complete();
  EXPECT_GT(lane.files_deleted_by_ring(), 0u);
  const auto names = list(mnt / "out" / "lane");
  ASSERT_GE(names.size(), 2u);
  for (const std::string& name : names) {  // what is left is whole and valid
    const CapInfo c = capinfos(mnt / "out" / "lane" / name);
    EXPECT_EQ(c.status, 0) << name;
  }
}

TEST_F(PcapFileTest, FileWithNoRecordsIsNotKept) {
  const fs::path mnt = dir_ / "mnt";
  if (const std::string why = mount_tmpfs(mnt, "1m"); !why.empty()) GTEST_SKIP() << why;
  fs::create_directories(mnt / "out");
  CompletedFiles completed(mnt / "out", 0);
  LaneFile lane(mnt / "out", opts("lane"), completed);
  // Fill the file system completely.
  const fs::path filler = mnt / "filler";
  {
    std::ofstream f(filler, std::ios::binary);
    const std::string chunk(4096, 'f');
    for (int i = 0; i < 1024 && f; ++i) f << chunk;
  }
  const Block b = make_block_bytes(PcapFormat::pcap_usec, 128, 64 * 1024);
  // Not even the header fits: no file.
  EXPECT_EQ(lane.append(b.bytes.data(), b.bytes.size()), ENOSPC);
  EXPECT_TRUE(list(mnt / "out" / "lane").empty());
  // One free page: the header fits, the records do not.
  fs::resize_file(filler, fs::file_size(filler) / 4096 * 4096 - 4096);
  EXPECT_EQ(lane.append(b.bytes.data(), b.bytes.size()), ENOSPC);
  const auto part = with_suffix(list(mnt / "out" / "lane"), ".part");
  ASSERT_EQ(part.size(), 1u);
  EXPECT_EQ(fs::file_size(mnt / "out" / "lane" / part[0]), 24u);  // just the header
  lane.complete();
  EXPECT_TRUE(list(mnt / "out" / "lane").empty());
  EXPECT_EQ(lane.files_completed(), 0u);
}

TEST_F(PcapFileTest, OpenFailureIsReturnedAndRetriedOnTheNextAppend) {
  CompletedFiles completed(out_, 0);
  LaneFile lane(out_, opts("lane"), completed);
  // Something that is not a directory took the lane directory's place.
  fs::remove(out_ / "lane");
  write_file(out_ / "lane", "in the way");
  const Block b = make_block(PcapFormat::pcap_usec, 128, 7);
  EXPECT_EQ(lane.append(b.bytes.data(), b.bytes.size()), ENOTDIR);
  EXPECT_EQ(lane.append(b.bytes.data(), b.bytes.size()), ENOTDIR);

  fs::remove(out_ / "lane");
  ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
  lane.complete();
  const auto names = list(out_ / "lane");
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(capinfos(out_ / "lane" / names[0]).packets, 7u);
}

TEST_F(PcapFileTest, LaneDirectoryRemovedWhileOpenStartsANewFile) {
  CompletedFiles completed(out_, 0);
  LaneFile lane(out_, opts("lane"), completed);
  const Block lost = make_block(PcapFormat::pcap_usec, 128, 5);
  ASSERT_EQ(lane.append(lost.bytes.data(), lost.bytes.size()), 0);
  fs::remove_all(out_ / "lane");
  const Block kept = make_block(PcapFormat::pcap_usec, 128, 9);
  ASSERT_EQ(lane.append(kept.bytes.data(), kept.bytes.size()), 0);
  lane.complete();
  const auto names = list(out_ / "lane");
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(capinfos(out_ / "lane" / names[0]).packets, 9u);
  EXPECT_EQ(lane.files_completed(), 1u);
}

TEST_F(PcapFileTest, OutputDirectoryRemovedFailsUntilItReturns) {
  CompletedFiles completed(out_, 0);
  LaneFile lane(out_, opts("lane"), completed);
  const Block lost = make_block(PcapFormat::pcap_usec, 128, 5);
  ASSERT_EQ(lane.append(lost.bytes.data(), lost.bytes.size()), 0);
  fs::remove_all(out_);
  // The output directory is the operator's: not recreated, every append fails.
  EXPECT_EQ(lane.append(lost.bytes.data(), lost.bytes.size()), ENOENT);
  EXPECT_EQ(lane.append(lost.bytes.data(), lost.bytes.size()), ENOENT);
  EXPECT_FALSE(fs::exists(out_));

  fs::create_directory(out_);  // back: the lane directory is recreated
  const Block kept = make_block(PcapFormat::pcap_usec, 128, 9);
  ASSERT_EQ(lane.append(kept.bytes.data(), kept.bytes.size()), 0);
  lane.complete();
  const auto names = list(out_ / "lane");
  ASSERT_EQ(names.size(), 1u);
  EXPECT_TRUE(names[0].ends_with("-000002.pcap")) << "seq continues: " << names[0];
  EXPECT_EQ(capinfos(out_ / "lane" / names[0]).packets, 9u);
}

TEST_F(PcapFileTest, LaneDirectoryMovedWhileOpenIsCompletedWhereItIs) {
  CompletedFiles completed(out_, 0);
  LaneFile lane(out_, opts("lane"), completed);
  const Block first = make_block(PcapFormat::pcap_usec, 128, 6);
  ASSERT_EQ(lane.append(first.bytes.data(), first.bytes.size()), 0);
  fs::rename(out_ / "lane", out_ / "moved");
  lane.tick(now_ns());  // notices, completes the file in the moved directory
  EXPECT_EQ(lane.files_completed(), 1u);
  const auto moved = list(out_ / "moved");
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_TRUE(std::regex_match(moved[0], kCompletedName)) << moved[0];
  EXPECT_EQ(capinfos(out_ / "moved" / moved[0]).packets, 6u);

  const Block next = make_block(PcapFormat::pcap_usec, 128, 4);
  ASSERT_EQ(lane.append(next.bytes.data(), next.bytes.size()), 0);  // at the path again
  lane.complete();
  const auto names = list(out_ / "lane");
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(capinfos(out_ / "lane" / names[0]).packets, 4u);
}

TEST_F(PcapFileTest, WriteErrorCompletesTheFileAndTheNextAppendOpensANewOne) {
  // RLIMIT_FSIZE makes a write past 40 KB fail with EFBIG: a write error that
  // is not a full disk, on this descriptor only.
  CompletedFiles completed(out_, 0);
  LaneFile lane(out_, opts("lane"), completed);
  const Block b = make_block_bytes(PcapFormat::pcap_usec, 128, 16 * 1024);
  rlimit old_limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  const auto old_handler = signal(SIGXFSZ, SIG_IGN);
  rlimit limit = old_limit;
  limit.rlim_cur = 40 * 1024;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  std::vector<int> results;
  for (int i = 0; i < 4; ++i) results.push_back(lane.append(b.bytes.data(), b.bytes.size()));
  setrlimit(RLIMIT_FSIZE, &old_limit);
  signal(SIGXFSZ, old_handler);
  // Two blocks fit; the third fails and completes the file; the fourth opens seq 2.
  EXPECT_EQ(results, (std::vector<int>{0, 0, EFBIG, 0}));
  EXPECT_EQ(lane.files_completed(), 1u);
  lane.complete();
  const auto names = list(out_ / "lane");
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(capinfos(out_ / "lane" / names[0]).packets, 2 * b.packets.size());
  EXPECT_EQ(tshark(out_ / "lane" / names[0]).status, 0) << "cut back to whole records";
  EXPECT_EQ(capinfos(out_ / "lane" / names[1]).packets, b.packets.size());
}

// chattr +i / -i (tmpfs and ext4 both support it).
bool set_immutable(const fs::path& dir, bool on) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return false;
  int flags = 0;
  bool ok = ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
  ok = ok && ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  close(fd);
  return ok;
}

TEST_F(PcapFileTest, FailedRenameIsRetriedByTick) {
  const fs::path marker = dir_ / "marker";
  CompletedFiles completed(out_, 0);
  LaneFileOptions o = opts("lane");
  o.post_rotate_command = "printf '%s\\n' >>'" + marker.string() + "'";
  LaneFile lane(out_, o, completed);
  const Block b = make_block(PcapFormat::pcap_usec, 128, 3);
  ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
  if (!set_immutable(out_ / "lane", true)) GTEST_SKIP() << "chattr +i: " << strerror(errno);
  lane.complete();  // the rename fails (EPERM): retried later
  EXPECT_EQ(lane.renames_pending(), 1u);
  lane.tick(now_ns());
  EXPECT_EQ(lane.renames_pending(), 1u);
  EXPECT_EQ(lane.files_completed(), 0u);
  EXPECT_EQ(with_suffix(list(out_ / "lane"), ".part").size(), 1u);
  EXPECT_EQ(lane.append(b.bytes.data(), b.bytes.size()), EPERM) << "no new file either";

  ASSERT_TRUE(set_immutable(out_ / "lane", false));
  lane.tick(now_ns());
  EXPECT_EQ(lane.renames_pending(), 0u);
  EXPECT_EQ(lane.files_completed(), 1u);
  const auto names = list(out_ / "lane");
  ASSERT_EQ(names.size(), 1u);
  EXPECT_TRUE(std::regex_match(names[0], kCompletedName)) << names[0];
  EXPECT_EQ(capinfos(out_ / "lane" / names[0]).packets, 3u);
  const std::string expected = (out_ / "lane" / names[0]).string() + "\n";
  EXPECT_TRUE(wait_for(completed, [&] { return read_file(marker) == expected; }))
      << "post-rotate runs once the file is complete; marker: " << read_file(marker);
}

TEST_F(PcapFileTest, ReadOnlyMountOverTheOutputDirectoryFailsUntilItGoes) {
  // A read-only bind mount over the output directory: the open file (opened
  // before, through the writable mount) is finished normally; opening the
  // next one fails with EROFS until the read-only mount goes away.
  if (geteuid() != 0) GTEST_SKIP() << "not root";
  CompletedFiles completed(out_, 0);
  LaneFile lane(out_, opts("lane"), completed);
  const Block b = make_block(PcapFormat::pcap_usec, 128, 5);
  ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
  ASSERT_EQ(mount(out_.c_str(), out_.c_str(), nullptr, MS_BIND, nullptr), 0) << strerror(errno);
  mounts_.push_back(out_);
  ASSERT_EQ(mount(nullptr, out_.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr), 0)
      << strerror(errno);
  ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0) << "the open file still takes records";
  lane.complete();
  EXPECT_EQ(lane.files_completed(), 1u);
  EXPECT_EQ(lane.append(b.bytes.data(), b.bytes.size()), EROFS);
  EXPECT_EQ(lane.append(b.bytes.data(), b.bytes.size()), EROFS);

  ASSERT_EQ(umount(out_.c_str()), 0) << strerror(errno);
  mounts_.pop_back();
  ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
  lane.complete();
  const auto names = list(out_ / "lane");
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(capinfos(out_ / "lane" / names[0]).packets, 10u);
  EXPECT_EQ(capinfos(out_ / "lane" / names[1]).packets, 5u);
}

TEST_F(PcapFileTest, EarlierRunsPartFileIsLeftAsItIs) {
  // What a SIGKILL in the middle of a write leaves: whole records, then a cut one.
  CompletedFiles completed(out_, 0);
  const Block b = make_block(PcapFormat::pcap_usec, 128, 8);
  fs::path part;
  {
    LaneFile first(out_, opts("lane"), completed);
    ASSERT_EQ(first.append(b.bytes.data(), b.bytes.size()), 0);
    part = out_ / "lane" / with_suffix(list(out_ / "lane"), ".part").at(0);
    const std::string whole = read_file(part);
    fs::copy_file(part, dir_ / "crashed");
    first.complete();
    fs::remove_all(out_ / "lane");
    fs::create_directory(out_ / "lane");
    write_file(part, whole.substr(0, whole.size() - 30));
  }
  const std::string before = read_file(part);
  LaneFile second(out_, opts("lane"), completed);
  ASSERT_EQ(second.append(b.bytes.data(), b.bytes.size()), 0);
  second.complete();
  EXPECT_EQ(read_file(part), before);
  EXPECT_EQ(list(out_ / "lane").size(), 2u);
  const auto done = with_suffix(list(out_ / "lane"), ".pcap");
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0].ends_with("-000002.pcap")) << done[0];
  // tshark reads the 7 whole records and says the file was cut short.
  const RunResult t = tshark(part);
  EXPECT_EQ(lines(t.out).size(), 7u);
  const RunResult why = run("tshark -r " + quote(part) + " 2>&1 >/dev/null");
  EXPECT_NE(why.out.find("cut short in the middle of a packet"), std::string::npos) << why.out;
}

// ---------------------------------------------------------------------------
// Post-rotate commands

TEST_F(PcapFileTest, PostRotateCommandGetsTheCompletedFile) {
  const fs::path out = dir_ / "out dir";  // the file name reaches the command quoted
  const fs::path marker = dir_ / "marker";
  fs::create_directories(out);
  CompletedFiles completed(out, 0);
  LaneFileOptions o = opts("lane");
  o.post_rotate_command = "printf '%s\\n' >>'" + marker.string() + "'";
  LaneFile lane(out, o, completed);
  const Block b = make_block(PcapFormat::pcap_usec, 128, 2);
  ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
  lane.complete();
  const auto names = list(out / "lane");
  ASSERT_EQ(names.size(), 1u);
  const std::string expected = (out / "lane" / names[0]).string() + "\n";
  EXPECT_TRUE(wait_for(completed, [&] { return read_file(marker) == expected; }))
      << "marker holds: " << read_file(marker);
  EXPECT_EQ(completed.post_rotate_failures(), 0u);
}

TEST_F(PcapFileTest, FailingPostRotateCommandIsCounted) {
  CompletedFiles completed(out_, 0);
  LaneFileOptions o = opts("lane");
  o.post_rotate_command = "exit 3; :";
  LaneFile lane(out_, o, completed);
  const Block b = make_block(PcapFormat::pcap_usec, 128, 2);
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
    lane.complete();
  }
  EXPECT_TRUE(wait_for(completed, [&] { return completed.post_rotate_failures() == 2; }))
      << completed.post_rotate_failures();
}

TEST_F(PcapFileTest, PostRotateCommandRunsWithoutWaitingAndDestructorWaits) {
  const fs::path marker = dir_ / "marker";
  {
    CompletedFiles completed(out_, 0);
    LaneFileOptions o = opts("lane");
    o.post_rotate_command = "sleep 1; printf '%s\\n' >>'" + marker.string() + "'";
    LaneFile lane(out_, o, completed);
    const Block b = make_block(PcapFormat::pcap_usec, 128, 2);
    ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
    const auto start = std::chrono::steady_clock::now();
    lane.complete();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
    completed.reap();  // never blocks
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
    EXPECT_FALSE(fs::exists(marker));
  }
  EXPECT_TRUE(fs::exists(marker)) << "~CompletedFiles returned before the command finished";
}

TEST_F(PcapFileTest, PostRotateCommandThatNeverExitsDoesNotHoldTheDestructor) {
  const fs::path pid_file = dir_ / "pid";
  const auto start = std::chrono::steady_clock::now();
  {
    CompletedFiles completed(out_, 0, std::chrono::milliseconds(300));
    LaneFileOptions o = opts("lane");
    o.post_rotate_command = "echo $$ >'" + pid_file.string() + "'; exec sleep 600 #";
    LaneFile lane(out_, o, completed);
    const Block b = make_block(PcapFormat::pcap_usec, 128, 2);
    ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
    lane.complete();
    ASSERT_TRUE(wait_for(completed, [&] { return !read_file(pid_file).empty(); }));
  }
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(5));
  const pid_t pid = std::atoi(read_file(pid_file).c_str());
  ASSERT_GT(pid, 0);
  EXPECT_EQ(kill(pid, 0), 0) << "left running";
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

TEST_F(PcapFileTest, PostRotateCommandGetsNoDescriptorOfOursAndStdoutOnStderr) {
  const fs::path pid_file = dir_ / "pid";
  write_file(dir_ / "stray", "");
  const int stray = open((dir_ / "stray").c_str(), O_RDONLY);  // no O_CLOEXEC
  ASSERT_GE(stray, 3);
  pid_t pid = 0;
  std::map<int, std::string> fds;  // the command's descriptors, once it is `sleep`
  {
    CompletedFiles completed(out_, 0, std::chrono::milliseconds(0));
    LaneFileOptions o = opts("lane");
    o.post_rotate_command = "echo $$ >'" + pid_file.string() + "'; exec sleep 600 #";
    LaneFile lane(out_, o, completed);
    const Block b = make_block(PcapFormat::pcap_usec, 128, 2);
    ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
    lane.complete();
    ASSERT_TRUE(wait_for(completed, [&] {
      pid = std::atoi(read_file(pid_file).c_str());
      return pid > 0 && read_file("/proc/" + std::to_string(pid) + "/comm") == "sleep\n";
    }));
    // `sleep` itself opens locale files as it starts (seen in CI: fd 3 was
    // /usr/lib/locale/C.utf8/LC_TIME): read its descriptors until those are
    // closed, for up to 2 s. A descriptor inherited from us would stay open.
    for (int tries = 0; tries < 200; ++tries) {
      fds.clear();
      for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
        std::error_code gone;  // a descriptor closed while listing
        const fs::path target = fs::read_symlink(e.path(), gone);
        if (!gone) fds[std::stoi(e.path().filename())] = target.string();
      }
      if (fds.size() <= 3) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  close(stray);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  ASSERT_EQ(fds.size(), 3u) << "descriptors 0, 1, 2 only; fd 3 is " << fds[3];
  EXPECT_EQ(fds[0], "/dev/null");
  EXPECT_EQ(fds[1], fds[2]) << "stdout is our stderr";
  char ours[PATH_MAX] = {};
  ASSERT_GT(readlink("/proc/self/fd/2", ours, sizeof(ours) - 1), 0);
  EXPECT_EQ(fds[2], ours);
}

// ---------------------------------------------------------------------------
// Threads

TEST_F(PcapFileTest, WriterThreadsShareOneCompletedFiles) {
  CompletedFiles completed(out_, UINT64_MAX / 2);
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  std::vector<uint64_t> deleted_by_ring(kThreads);
  std::vector<int> errors(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      LaneFileOptions o = opts("t" + std::to_string(t));
      o.rotate_bytes = 5000;
      o.ring_files = 3;
      LaneFile lane(out_, o, completed);
      const Block b = make_block(PcapFormat::pcap_usec, 128, 10);
      for (int i = 0; i < 60; ++i) errors[t] += lane.append(b.bytes.data(), b.bytes.size()) != 0;
      lane.complete();
      deleted_by_ring[t] = lane.files_deleted_by_ring();
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(errors[t], 0);
    EXPECT_EQ(list(out_ / ("t" + std::to_string(t))).size(), 3u);
    EXPECT_GT(deleted_by_ring[t], 10u);
  }
  // Each lane's ring forgot what it deleted; exactly the kept files remain.
  EXPECT_EQ(completed.enforce_disk_cap(), uint64_t(kThreads) * 3);
}

// ---------------------------------------------------------------------------
// Reusing ring files (see "Reusing ring files" in pcap_file.h)

ino_t inode_of(const fs::path& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0 ? st.st_ino : 0;
}

// Checks that tshark's lines for `file` are records with consecutive ids (mod
// 2^16) as make_block writes them, each exactly as written. Returns how many.
size_t expect_consecutive_records(PcapFormat format, uint32_t snaplen, const std::string& out,
                                  const std::string& what) {
  const auto got = lines(out);
  if (got.empty()) return 0;
  // The first line's source MAC ends in the id.
  const std::string& first = got[0];
  const unsigned id0 = unsigned(std::stoul(first.substr(first.size() - 5, 2), nullptr, 16) << 8 |
                                std::stoul(first.substr(first.size() - 2), nullptr, 16));
  for (size_t i = 0; i < got.size(); ++i) {
    const Block b = make_block(format, snaplen, 1, uint16_t(id0 + i));
    EXPECT_EQ(got[i], expected_line(format, b.packets[0])) << what << ", record " << i;
    if (got[i] != expected_line(format, b.packets[0])) break;
  }
  return got.size();
}

TEST_P(PcapFileFormatTest, SizeRotationWritesOverTheRingsOldestFile) {
  const PcapFormat format = GetParam();
  CompletedFiles completed(out_, 0);
  LaneFileOptions o = opts("lane", format);
  o.rotate_bytes = 32 * 1024;
  o.ring_files = 2;
  LaneFile lane(out_, o, completed);
  std::set<ino_t> inodes;
  uint16_t next_id = 0;
  for (int i = 0; i < 24; ++i) {
    // Blocks of varying size, so a reused file is sometimes longer and
    // sometimes shorter than what is written over it.
    const Block b = make_block_bytes(format, 128, 5000 + size_t(i % 7) * 3000, next_id);
    next_id = uint16_t(next_id + b.packets.size());
    ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
    for (const std::string& name : list(out_ / "lane"))
      inodes.insert(inode_of(out_ / "lane" / name));
    const auto part = with_suffix(list(out_ / "lane"), ".part");
    ASSERT_EQ(part.size(), 1u);
    if (i % 4 != 3) continue;  // tshark takes a while
    // What a reader of the open file sees: whole records, the last ones
    // written, never an older file's records (tshark stops at the marker).
    const RunResult t = tshark(out_ / "lane" / part[0]);
    const size_t n = expect_consecutive_records(format, 128, t.out, part[0]);
    ASSERT_GT(n, 0u) << part[0];
    const auto got = lines(t.out);
    EXPECT_EQ(got.back(), expected_line(format, b.packets.back()))
        << part[0] << " after append " << i;
  }
  lane.complete();
  EXPECT_GT(lane.files_reused(), 5u);
  EXPECT_EQ(lane.files_deleted_by_ring(), lane.files_completed() - 2);
  // Three files (two kept, one open) take turns: no new inode after the third.
  EXPECT_EQ(inodes.size(), 3u);
  const auto names = list(out_ / "lane");
  ASSERT_EQ(names.size(), 2u);
  for (const std::string& name : names) {
    const fs::path file = out_ / "lane" / name;
    const CapInfo c = capinfos(file);
    EXPECT_EQ(c.status, 0) << name;
    const RunResult t = tshark(file);
    EXPECT_EQ(t.status, 0) << name;
    EXPECT_EQ(expect_consecutive_records(format, 128, t.out, name), c.packets) << name;
  }
}

TEST_F(PcapFileTest, RingFileSomeoneHasOpenOrLinkedIsDeletedNotWrittenOver) {
  CompletedFiles completed(out_, 0);
  LaneFileOptions o = opts("lane");
  o.rotate_bytes = 20 * 1024;
  o.ring_files = 1;
  LaneFile lane(out_, o, completed);
  const Block b = make_block_bytes(PcapFormat::pcap_usec, 128, 16 * 1024);
  // Two completed files, then one more each time.
  for (int i = 0; i < 3; ++i) ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
  const uint64_t reused = lane.files_reused();
  auto done = with_suffix(list(out_ / "lane"), ".pcap");
  ASSERT_EQ(done.size(), 1u);
  const fs::path oldest = out_ / "lane" / done[0];
  const std::string content = read_file(oldest);
  const int reader = open(oldest.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);  // rotates: the oldest goes
  EXPECT_FALSE(fs::exists(oldest));
  EXPECT_EQ(lane.files_reused(), reused) << "a file someone reads was written over";
  std::string still(content.size() + 1, '\0');
  EXPECT_EQ(pread(reader, still.data(), still.size(), 0), ssize_t(content.size()));
  still.resize(content.size());
  EXPECT_TRUE(still == content) << "the reader's file changed";
  close(reader);
  ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);  // nobody reads the next oldest
  EXPECT_EQ(lane.files_reused(), reused + 1);
  // A file with a second name (a post-rotate `ln` into an archive) is not
  // written over either: the other name keeps it.
  done = with_suffix(list(out_ / "lane"), ".pcap");
  ASSERT_EQ(done.size(), 1u);
  const std::string kept = read_file(out_ / "lane" / done[0]);
  ASSERT_EQ(link((out_ / "lane" / done[0]).c_str(), (dir_ / "archived").c_str()), 0);
  ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
  EXPECT_EQ(lane.files_reused(), reused + 1);
  EXPECT_FALSE(fs::exists(out_ / "lane" / done[0]));
  EXPECT_TRUE(read_file(dir_ / "archived") == kept);
}

TEST_F(PcapFileTest, RingFileAKillLeftHiddenForReuseIsDeletedAtStart) {
  fs::create_directories(out_ / "lane");
  write_file(out_ / "lane" / ".lane.reuse", "an older capture");
  CompletedFiles completed(out_, 0);
  LaneFile lane(out_, opts("lane"), completed);
  const Block b = make_block(PcapFormat::pcap_usec, 128, 3);
  ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
  EXPECT_FALSE(fs::exists(out_ / "lane" / ".lane.reuse"));
  EXPECT_EQ(list(out_ / "lane").size(), 1u);
}

TEST_P(PcapFileFormatTest,
       KilledWhileWritingOverARingFileLeavesWholeRecordsAndARestartCutsTheRest) {
  const PcapFormat format = GetParam();
  LaneFileOptions o = opts("lane", format);
  o.rotate_bytes = 256 * 1024;
  o.ring_files = 2;
  int cut = 0;
  for (int round = 0; round < 4; ++round) {
    const fs::path out = dir_ / ("round" + std::to_string(round));
    fs::create_directories(out);
    // The writer says when it first writes over a ring file. Round 0 stops
    // there and is killed stopped: its .part certainly holds an end marker
    // with the older file behind it. The other rounds are killed at some
    // moment after it while writing flat out (on a busy machine a fixed
    // delay from the fork could end before the ring was even full).
    int reusing[2];
    ASSERT_EQ(pipe(reusing), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {  // writes until killed
      close(reusing[0]);
      CompletedFiles completed(out, 0);
      LaneFile lane(out, o, completed);
      bool told = false;
      for (uint16_t id = 0;;) {
        const Block b = make_block_bytes(format, 128, 12000 + size_t(id % 5) * 4000, id);
        id = uint16_t(id + b.packets.size());
        if (lane.append(b.bytes.data(), b.bytes.size()) != 0) _exit(1);
        if (!told && lane.files_reused() > 0) {
          told = true;
          const char c = 1;
          if (write(reusing[1], &c, 1) != 1) _exit(1);
          if (round == 0) raise(SIGSTOP);
        }
      }
    }
    close(reusing[1]);
    pollfd p{reusing[0], POLLIN, 0};
    char c = 0;
    const bool told = poll(&p, 1, 30000) == 1 && read(reusing[0], &c, 1) == 1;
    close(reusing[0]);
    if (told && round != 0) std::this_thread::sleep_for(std::chrono::milliseconds(3 + round * 17));
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(told) << "the writer never wrote over a ring file";
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer stopped by itself: " << status;
    const auto part = with_suffix(list(out / "lane"), ".part");
    ASSERT_LE(part.size(), 1u);
    if (part.empty()) continue;  // killed between completing a file and opening the next
    const fs::path file = out / "lane" / part[0];
    const uint64_t size_before = fs::file_size(file);
    const std::string before = tshark(file).out;
    expect_consecutive_records(format, 128, before, "killed " + part[0]);
    {
      // A restart: the first append scans the lane directory.
      CompletedFiles completed(out, 0);
      LaneFile lane(out, o, completed);
      const Block b = make_block(format, 128, 3);
      ASSERT_EQ(lane.append(b.bytes.data(), b.bytes.size()), 0);
    }
    cut += fs::file_size(file) < size_before;
    EXPECT_FALSE(fs::exists(out / "lane" / ".lane.reuse"));
    const RunResult after = tshark(file);
    EXPECT_EQ(after.out, before) << part[0] << ": the cut removed or added records";
    if (after.status != 0) {  // only a record the kill cut short may remain
      const RunResult why = run("tshark -r " + quote(file) + " 2>&1 >/dev/null");
      EXPECT_NE(why.out.find("cut short in the middle of a packet"), std::string::npos) << why.out;
    }
  }
  EXPECT_GT(cut, 0) << "round 0 was killed while a ring file was written over, yet nothing was cut";
}

}  // namespace
}  // namespace vxc
