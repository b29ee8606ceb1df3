// The capture reader's parsing half: classic pcap headers in all four magics,
// records as libpcap gives them, and every way a file can end.
#include "dataplane/capture_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace vxc {
namespace {

using Bytes = std::vector<uint8_t>;

void put32(Bytes& b, uint32_t v, bool swapped) {
  if (swapped) v = __builtin_bswap32(v);
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  b.insert(b.end(), p, p + 4);
}
void put16(Bytes& b, uint16_t v, bool swapped) {
  if (swapped) v = __builtin_bswap16(v);
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  b.insert(b.end(), p, p + 2);
}

struct Magic {
  const char* name;
  bool swapped;
  bool nanoseconds;
};
constexpr Magic kMagics[] = {{"usec", false, false},
                             {"usec-swapped", true, false},
                             {"nsec", false, true},
                             {"nsec-swapped", true, true}};

Bytes file_header(const Magic& m, uint32_t snaplen = 65535, uint32_t linktype = 1,
                  uint16_t major = 2, uint16_t minor = 4) {
  Bytes b;
  put32(b, m.nanoseconds ? 0xa1b23c4d : 0xa1b2c3d4, m.swapped);
  put16(b, major, m.swapped);
  put16(b, minor, m.swapped);
  put32(b, 0, m.swapped);
  put32(b, 0, m.swapped);
  put32(b, snaplen, m.swapped);
  put32(b, linktype, m.swapped);
  return b;
}

// A record of `caplen` bytes (byte i = seed + i), stored with that caplen.
void add_record(Bytes& b, const Magic& m, uint32_t sec, uint32_t frac, uint32_t caplen,
                uint8_t seed = 0) {
  put32(b, sec, m.swapped);
  put32(b, frac, m.swapped);
  put32(b, caplen, m.swapped);
  put32(b, caplen + 4, m.swapped);
  for (uint32_t i = 0; i < caplen; ++i) b.push_back(static_cast<uint8_t>(seed + i));
}

class TempFile {
 public:
  explicit TempFile(const Bytes& content) {
    char name[] = "/tmp/capture_file_test.XXXXXX";
    const int fd = mkstemp(name);
    path_ = name;
    if (fd >= 0) {
      if (!content.empty() &&
          write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size()))
        path_.clear();
      close(fd);
    }
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct ReadResult {
  std::vector<CaptureRecord> records;  // data pointers are not kept
  std::vector<Bytes> frames;
  CaptureFile::Next ended = CaptureFile::Next::record;
};

ReadResult read_all(const Bytes& content, size_t buffer = CaptureFile::kDefaultBufferBytes) {
  TempFile f(content);
  CaptureFile file(f.path(), buffer);
  ReadResult r;
  CaptureRecord rec;
  for (;;) {
    const CaptureFile::Next n = file.next(rec);
    if (n != CaptureFile::Next::record) {
      r.ended = n;
      EXPECT_EQ(file.next(rec), n) << "the end stays the end";
      return r;
    }
    r.frames.emplace_back(rec.data, rec.data + rec.caplen);
    rec.data = nullptr;
    r.records.push_back(rec);
  }
}

TEST(CaptureFileHeader, FourMagicsAreClassicEthernet) {
  for (const Magic& m : kMagics) {
    const Bytes h = file_header(m, 1500);
    const auto f = parse_classic_pcap_header(h.data(), h.size());
    ASSERT_TRUE(f.has_value()) << m.name;
    EXPECT_EQ(f->swapped, m.swapped) << m.name;
    EXPECT_EQ(f->nanoseconds, m.nanoseconds) << m.name;
    EXPECT_EQ(f->snapshot, 1500u) << m.name;
  }
}

TEST(CaptureFileHeader, OthersGoToLibpcap) {
  const Magic& m = kMagics[0];
  const Bytes ok = file_header(m);
  EXPECT_FALSE(parse_classic_pcap_header(ok.data(), 23)) << "short header";
  const Bytes pcapng = {0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0,    0,    0,    0x4d, 0x3c, 0x2b, 0x1a,
                        1,    0,    0,    0,    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  EXPECT_FALSE(parse_classic_pcap_header(pcapng.data(), pcapng.size())) << "pcapng";
  const Bytes raw_ip = file_header(m, 65535, 101);
  EXPECT_FALSE(parse_classic_pcap_header(raw_ip.data(), raw_ip.size())) << "link type raw IP";
  const Bytes fcs = file_header(m, 65535, 1 | 0x10000000);
  EXPECT_FALSE(parse_classic_pcap_header(fcs.data(), fcs.size())) << "Ethernet with FCS bits";
  const Bytes v23 = file_header(m, 65535, 1, 2, 3);
  EXPECT_FALSE(parse_classic_pcap_header(v23.data(), v23.size())) << "version 2.3";
  Bytes kuznetzov = file_header(m);
  kuznetzov[0] = 0x34;
  kuznetzov[1] = 0xcd;
  EXPECT_FALSE(parse_classic_pcap_header(kuznetzov.data(), kuznetzov.size())) << "0xa1b2cd34";
}

TEST(CaptureFileHeader, SnaplenZeroOrTooLargeMeansTheMaximum) {
  for (uint32_t snaplen : {0u, 262145u, 0x80000000u, 0xffffffffu}) {
    const Bytes h = file_header(kMagics[0], snaplen);
    EXPECT_EQ(parse_classic_pcap_header(h.data(), h.size())->snapshot, kMaxCaptureRecordBytes)
        << snaplen;
  }
}

TEST(CaptureFile, RecordsAndTimestampsInAllFourMagics) {
  for (const Magic& m : kMagics) {
    Bytes b = file_header(m);
    add_record(b, m, 1700000000, m.nanoseconds ? 123456789 : 123456, 60, 1);
    add_record(b, m, 1700000001, 0, 1514, 2);
    add_record(b, m, 0, 999, 0);  // caplen 0: an empty frame, as libpcap gives it
    const ReadResult r = read_all(b);
    ASSERT_EQ(r.records.size(), 3u) << m.name;
    EXPECT_EQ(r.ended, CaptureFile::Next::end) << m.name;
    EXPECT_EQ(r.records[0].ts_ns,
              1700000000ull * 1000000000 + (m.nanoseconds ? 123456789 : 123456000))
        << m.name;
    EXPECT_EQ(r.records[1].ts_ns, 1700000001ull * 1000000000) << m.name;
    EXPECT_EQ(r.records[2].ts_ns, m.nanoseconds ? 999u : 999000u) << m.name;
    EXPECT_EQ(r.frames[0].size(), 60u);
    EXPECT_EQ(r.frames[0][0], 1);
    EXPECT_EQ(r.frames[0][59], 60);
    EXPECT_EQ(r.frames[1].size(), 1514u);
    EXPECT_EQ(r.frames[1][1513], static_cast<uint8_t>(2 + 1513));
    EXPECT_EQ(r.frames[2].size(), 0u);
    EXPECT_EQ(r.records[1].stored_bytes, 16u + 1514);
  }
}

TEST(CaptureFile, TimeFieldsAre32BitSignedUnlessSwappedAsInLibpcap) {
  for (const Magic& m : {kMagics[0], kMagics[1]}) {
    Bytes b = file_header(m);
    add_record(b, m, 0x80000000u, 0xffffffffu, 1);  // native: -2^31 s and -1 us
    const ReadResult r = read_all(b);
    ASSERT_EQ(r.records.size(), 1u);
    const int64_t sec = m.swapped ? 0x80000000LL : -2147483648LL;
    const int64_t usec = m.swapped ? 0xffffffffLL : -1;
    const uint64_t total = static_cast<uint64_t>(sec) * 1000000u + static_cast<uint64_t>(usec);
    EXPECT_EQ(r.records[0].ts_ns, total * 1000u) << m.name << ": net_pcap's sec * 10^6 + usec";
  }
}

TEST(CaptureFile, HeaderOnlyIsAnEmptyCapture) {
  EXPECT_EQ(read_all(file_header(kMagics[1])).ended, CaptureFile::Next::end);
  EXPECT_TRUE(read_all(file_header(kMagics[1])).records.empty());
}

TEST(CaptureFile, CutLastRecordAtEveryOffset) {
  for (const Magic& m : kMagics) {
    Bytes b = file_header(m);
    add_record(b, m, 1, 2, 100, 7);
    const size_t last = b.size();
    add_record(b, m, 3, 4, 70, 9);
    for (size_t cut = last + 1; cut < b.size(); ++cut) {
      const ReadResult r = read_all(Bytes(b.begin(), b.begin() + static_cast<long>(cut)));
      ASSERT_EQ(r.records.size(), 1u) << m.name << " cut at " << cut;
      EXPECT_EQ(r.frames[0].size(), 100u);
      EXPECT_EQ(r.ended, CaptureFile::Next::cut) << m.name << " cut at " << cut;
    }
    EXPECT_EQ(read_all(Bytes(b.begin(), b.begin() + static_cast<long>(last))).ended,
              CaptureFile::Next::end);
    EXPECT_EQ(read_all(b).records.size(), 2u);
  }
}

TEST(CaptureFile, CaplenAboveTheMaximumEndsTheRead) {
  for (uint32_t caplen : {kMaxCaptureRecordBytes + 1, 0x7fffffffu, 0xffffffffu}) {
    const Magic& m = kMagics[3];
    Bytes b = file_header(m);
    add_record(b, m, 1, 0, 64);
    put32(b, 2, m.swapped);
    put32(b, 0, m.swapped);
    put32(b, caplen, m.swapped);
    put32(b, 64, m.swapped);
    b.resize(b.size() + 64, 0xee);  // bytes that must not become a frame
    add_record(b, m, 3, 0, 64);
    const ReadResult r = read_all(b);
    EXPECT_EQ(r.records.size(), 1u) << caplen;
    EXPECT_EQ(r.ended, CaptureFile::Next::too_big) << caplen;
  }
}

TEST(CaptureFile, LargestRecordsAndCutToTheSnaplen) {
  const Magic& m = kMagics[0];
  Bytes b = file_header(m, 0);  // snaplen 0: the maximum
  add_record(b, m, 1, 0, kMaxCaptureRecordBytes, 3);
  add_record(b, m, 2, 0, 9000, 4);  // larger than one 2 KiB mbuf
  ReadResult r = read_all(b);
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.ended, CaptureFile::Next::end);
  EXPECT_EQ(r.frames[0].size(), kMaxCaptureRecordBytes);
  EXPECT_EQ(r.frames[0].back(), static_cast<uint8_t>(3 + kMaxCaptureRecordBytes - 1));
  EXPECT_EQ(r.frames[1].size(), 9000u);

  // A record above the header's snaplen: libpcap gives its first snaplen bytes.
  Bytes c = file_header(m, 100);
  add_record(c, m, 1, 0, 300, 5);
  add_record(c, m, 2, 0, 50, 6);
  r = read_all(c);
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.frames[0].size(), 100u);
  EXPECT_EQ(r.frames[0][99], 5 + 99);
  EXPECT_EQ(r.records[0].stored_bytes, 316u);
  EXPECT_EQ(r.frames[1].size(), 50u);
  EXPECT_EQ(r.frames[1][0], 6);
  // ...and a file cut inside the part beyond the snaplen is still a cut record.
  c.resize(24 + 16 + 200);
  r = read_all(c);
  EXPECT_EQ(r.records.size(), 0u);
  EXPECT_EQ(r.ended, CaptureFile::Next::cut);
}

TEST(CaptureFile, RecordsStraddlingTheReadBuffer) {
  // Sizes that put record boundaries at every offset around the 1 MiB
  // buffer's end, headers split included, over several refills.
  for (const Magic& m : kMagics) {
    Bytes b = file_header(m, kMaxCaptureRecordBytes);
    std::vector<uint32_t> sizes;
    uint32_t size = 0;
    while (b.size() < 3 * CaptureFile::kDefaultBufferBytes + 100000) {
      size = (size * 7 + 13) % 1600;
      if (sizes.size() % 500 == 499) size = 70000;  // now and then a large one
      sizes.push_back(size);
      add_record(b, m, static_cast<uint32_t>(sizes.size()), 0, size,
                 static_cast<uint8_t>(sizes.size()));
    }
    const ReadResult r = read_all(b);
    ASSERT_EQ(r.records.size(), sizes.size()) << m.name;
    EXPECT_EQ(r.ended, CaptureFile::Next::end);
    for (size_t i = 0; i < sizes.size(); ++i) {
      ASSERT_EQ(r.frames[i].size(), sizes[i]) << m.name << " record " << i;
      EXPECT_EQ(r.records[i].ts_ns, (i + 1) * 1000000000ull);
      for (size_t k = 0; k < sizes[i]; k += 97)
        ASSERT_EQ(r.frames[i][k], static_cast<uint8_t>(i + 1 + k)) << m.name << " record " << i;
    }
  }
}

TEST(CaptureFile, RecordsStayInPlaceUntilARefillIsAllowed) {
  // What the capture replay relies on: without leave to refill, every record
  // given out keeps its bytes (the dataplane may even write into them), and
  // the record that does not fit waits (`later`) until a refill is allowed.
  const Magic& m = kMagics[0];
  Bytes b = file_header(m);
  std::vector<uint32_t> sizes;
  while (b.size() < 3 * CaptureFile::kDefaultBufferBytes) {
    sizes.push_back(1000 + static_cast<uint32_t>(sizes.size() % 600));
    add_record(b, m, 1, 0, sizes.back(), static_cast<uint8_t>(sizes.size()));
  }
  TempFile f(b);
  CaptureFile file(f.path());
  CaptureRecord rec;
  EXPECT_EQ(file.next(rec, false), CaptureFile::Next::later) << "nothing is read without leave";
  size_t given = 0;
  int laters = 0;
  for (;;) {  // each pass: the records of the pass before are released
    bool may_refill = true;
    std::vector<CaptureRecord> held;
    CaptureFile::Next n;
    while ((n = file.next(rec, may_refill)) == CaptureFile::Next::record) {
      may_refill = false;
      ASSERT_EQ(rec.caplen, sizes[given + held.size()]);
      held.push_back(rec);
      std::memset(const_cast<uint8_t*>(rec.data), 0xee, 14);  // as the dataplane may
    }
    for (size_t i = 0; i < held.size(); ++i) {
      const size_t index = given + i;
      EXPECT_EQ(held[i].data[13], 0xee) << index;
      for (size_t k = 14; k < held[i].caplen; k += 31)
        ASSERT_EQ(held[i].data[k], static_cast<uint8_t>(index + 1 + k)) << "record " << index;
    }
    given += held.size();
    if (n == CaptureFile::Next::end) break;
    ASSERT_EQ(n, CaptureFile::Next::later);
    ++laters;
  }
  EXPECT_EQ(given, sizes.size());
  EXPECT_GE(laters, 3) << "a 3 MiB file does not fit one 1 MiB buffer";
}

TEST(CaptureFile, HeaderNoLongerClassicIsAReadError) {
  Bytes b = file_header(kMagics[0], 65535, 101);
  add_record(b, kMagics[0], 1, 0, 60);
  EXPECT_EQ(read_all(b).ended, CaptureFile::Next::read_error);
  EXPECT_EQ(read_all(Bytes{1, 2, 3}).ended, CaptureFile::Next::read_error);
}

TEST(CaptureFile, MissingFileThrowsNamingIt) {
  try {
    CaptureFile f("/nonexistent/capture.pcap");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/capture.pcap"), std::string::npos);
  }
}

TEST(CaptureRecordParse, NeverReadsPastTheBytesGiven) {
  const Magic& m = kMagics[2];
  Bytes b;
  add_record(b, m, 5, 6, 40);
  ClassicPcapFormat f;
  f.nanoseconds = true;
  for (size_t size = 0; size < b.size(); ++size) {
    Bytes exact(b.begin(), b.begin() + static_cast<long>(size));  // ASan sees any overread
    CaptureRecord rec;
    size_t need = 0;
    EXPECT_EQ(parse_capture_record(f, exact.data(), exact.size(), rec, need),
              RecordParse::need_more)
        << size;
    EXPECT_EQ(need, size < 16 ? 16u : 56u) << size;
  }
  CaptureRecord rec;
  size_t need = 0;
  ASSERT_EQ(parse_capture_record(f, b.data(), b.size(), rec, need), RecordParse::record);
  EXPECT_EQ(rec.caplen, 40u);
  EXPECT_EQ(rec.ts_ns, 5000000006u);
}

}  // namespace
}  // namespace vxc
