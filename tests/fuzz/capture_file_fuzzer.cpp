// libFuzzer target: the replay's record walk (dataplane/capture_file.h) over
// any file. --read-pcap takes whatever file it is given; every record the
// walk hands out is pointed at by an mbuf, so it must lie inside what was
// read, and the walk must end on every input.
//
// Input: 1 control byte, then the file's bytes.
//   control  bit k (k = call number mod 8): whether that next() may refill
//            the buffer; a call after a `later` always may (a new burst).
// The file goes to a memfd and is opened through /proc/self/fd, with the
// smallest buffer CaptureFile allows (one largest record), so inputs a little
// over 256 KiB cross a refill.
//
// Checked against a reference walk written here from the format (classic pcap,
// as libpcap 1.10 reads it): the same records (time, length, bytes) in the
// same order and the same way of ending; a record's bytes unchanged until
// a call that may refill; `later` only from a call that may not; after the
// end, the same answer again. A broken invariant aborts (a libFuzzer crash).
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "dataplane/capture_file.h"

namespace {

using vxc::CaptureFile;
using vxc::CaptureRecord;

struct Expected {
  uint64_t ts_ns;
  std::vector<uint8_t> bytes;
};

bool same(const uint8_t* a, const std::vector<uint8_t>& b) {
  return b.empty() || std::memcmp(a, b.data(), b.size()) == 0;
}

[[noreturn]] void fail(const char* what, size_t record) {
  std::fprintf(stderr, "capture_file_fuzzer: %s (record %zu)\n", what, record);
  std::abort();
}

uint32_t load32(const uint8_t* p, bool swapped) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return swapped ? __builtin_bswap32(v) : v;
}

// The format, walked over the whole file at once.
CaptureFile::Next reference(const uint8_t* d, size_t size, std::vector<Expected>& out) {
  if (size < 24) return CaptureFile::Next::read_error;
  const uint32_t magic = load32(d, false);
  bool swapped, ns;
  if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d) {
    swapped = false;
    ns = magic == 0xa1b23c4d;
  } else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1) {
    swapped = true;
    ns = magic == 0x4d3cb2a1;
  } else {
    return CaptureFile::Next::read_error;
  }
  const auto u16 = [&](size_t at) {
    uint16_t v;
    std::memcpy(&v, d + at, 2);
    return swapped ? __builtin_bswap16(v) : v;
  };
  if (u16(4) != 2 || u16(6) != 4 || load32(d + 20, swapped) != 1) return CaptureFile::Next::read_error;
  uint32_t snap = load32(d + 16, swapped);
  if (snap == 0 || snap > vxc::kMaxCaptureRecordBytes) snap = vxc::kMaxCaptureRecordBytes;
  for (size_t off = 24;;) {
    if (off == size) return CaptureFile::Next::end;
    if (size - off < 16) return CaptureFile::Next::cut;
    const uint32_t caplen = load32(d + off + 8, swapped);
    if (caplen > vxc::kMaxCaptureRecordBytes) return CaptureFile::Next::too_big;
    if (size - off - 16 < caplen) return CaptureFile::Next::cut;
    const uint32_t sec = load32(d + off, swapped), frac = load32(d + off + 4, swapped);
    const uint64_t s = swapped ? uint64_t{sec} : static_cast<uint64_t>(int64_t{static_cast<int32_t>(sec)});
    const uint64_t f = swapped ? uint64_t{frac} : static_cast<uint64_t>(int64_t{static_cast<int32_t>(frac)});
    const uint8_t* frame = d + off + 16;
    out.push_back({s * 1000000000u + f * (ns ? 1u : 1000u),
                   std::vector<uint8_t>(frame, frame + std::min(caplen, snap))});
    off += 16 + size_t{caplen};
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t control = data[0];
  const uint8_t* file = data + 1;
  const size_t file_size = size - 1;
  std::vector<Expected> want;
  const CaptureFile::Next want_end = reference(file, file_size, want);

  const int fd = memfd_create("capture", 0);
  if (fd < 0) fail("memfd_create", 0);
  if (file_size != 0 && write(fd, file, file_size) != static_cast<ssize_t>(file_size)) fail("write", 0);
  {
    CaptureFile walk("/proc/self/fd/" + std::to_string(fd), 0);
    std::vector<CaptureRecord> held;  // given since the last call that may refill
    size_t given = 0;
    bool after_later = false;
    CaptureFile::Next end = CaptureFile::Next::record;
    for (size_t call = 0;; ++call) {
      if (call > 4 * file_size + 64) fail("the walk does not end", given);
      const bool may_refill = after_later || (control >> (call % 8) & 1) != 0;
      if (may_refill) {
        // What the caller was promised: nothing moved until now.
        for (size_t i = 0; i < held.size(); ++i) {
          const Expected& e = want[given - held.size() + i];
          if (!same(held[i].data, e.bytes))
            fail("a record changed before a refill was allowed", given - held.size() + i);
        }
        held.clear();
      }
      CaptureRecord rec;
      const CaptureFile::Next n = walk.next(rec, may_refill);
      after_later = n == CaptureFile::Next::later;
      if (after_later) {
        if (may_refill) fail("later although a refill was allowed", given);
        continue;
      }
      if (n != CaptureFile::Next::record) {
        end = n;
        break;
      }
      if (given >= want.size()) fail("more records than the file holds", given);
      const Expected& e = want[given];
      if (rec.ts_ns != e.ts_ns) fail("time", given);
      if (rec.caplen != e.bytes.size()) fail("length", given);
      if (!same(rec.data, e.bytes)) fail("bytes", given);
      held.push_back(rec);
      ++given;
    }
    if (given != want.size()) fail("fewer records than the file holds", given);
    if (end != want_end) fail("ended another way than the file does", given);
    CaptureRecord rec;
    if (walk.next(rec, true) != end || walk.next(rec, false) != end) fail("the end did not stay", given);
  }
  close(fd);
  return 0;
}
