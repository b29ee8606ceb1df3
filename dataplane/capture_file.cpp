#include "dataplane/capture_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace vxc {
namespace {

constexpr uint32_t kMagicMicroseconds = 0xa1b2c3d4;
constexpr uint32_t kMagicNanoseconds = 0xa1b23c4d;
constexpr uint32_t kLinkTypeEthernet = 1;

uint32_t load32(const uint8_t* p, bool swapped) noexcept {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return swapped ? __builtin_bswap32(v) : v;
}

uint16_t load16(const uint8_t* p, bool swapped) noexcept {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return swapped ? __builtin_bswap16(v) : v;
}

}  // namespace

std::optional<ClassicPcapFormat> parse_classic_pcap_header(const uint8_t* data,
                                                           size_t size) noexcept {
  if (size < kCaptureFileHeaderLen) return std::nullopt;
  ClassicPcapFormat f;
  const uint32_t magic = load32(data, false);
  if (magic == kMagicMicroseconds || magic == kMagicNanoseconds) {
    f.swapped = false;
  } else if (magic == __builtin_bswap32(kMagicMicroseconds) ||
             magic == __builtin_bswap32(kMagicNanoseconds)) {
    f.swapped = true;
  } else {
    return std::nullopt;
  }
  f.nanoseconds = load32(data, f.swapped) == kMagicNanoseconds;
  // Other versions may have caplen and orig_len swapped (libpcap's guesswork).
  if (load16(data + 4, f.swapped) != 2 || load16(data + 6, f.swapped) != 4) return std::nullopt;
  if (load32(data + 20, f.swapped) != kLinkTypeEthernet) return std::nullopt;
  // libpcap's fallback for a missing or absurd snaplen.
  const uint32_t snaplen = load32(data + 16, f.swapped);
  f.snapshot = snaplen == 0 || snaplen > kMaxCaptureRecordBytes ? kMaxCaptureRecordBytes : snaplen;
  return f;
}

RecordParse parse_capture_record(const ClassicPcapFormat& format, const uint8_t* data, size_t size,
                                 CaptureRecord& out, size_t& need) noexcept {
  if (size < kCaptureRecordHeaderLen) {
    need = kCaptureRecordHeaderLen;
    return RecordParse::need_more;
  }
  const uint32_t caplen = load32(data + 8, format.swapped);
  if (caplen > kMaxCaptureRecordBytes) return RecordParse::too_big;
  const size_t stored = kCaptureRecordHeaderLen + caplen;
  if (size < stored) {
    need = stored;
    return RecordParse::need_more;
  }
  // libpcap 1.10 reads the fields as signed 32-bit ints, but byte-swapped
  // ones as unsigned, and net_pcap computes sec * 10^6 + usec from them in 64
  // bits: the same arithmetic (mod 2^64) here, in nanoseconds, so that years
  // past 2038 map to the same (odd) times as through net_pcap.
  const auto field = [&](size_t at) {
    const uint32_t v = load32(data + at, format.swapped);
    return format.swapped ? int64_t{v} : int64_t{static_cast<int32_t>(v)};
  };
  const int64_t sec = field(0);
  const int64_t frac = field(4);
  out.ts_ns = static_cast<uint64_t>(sec) * 1000000000u +
              static_cast<uint64_t>(frac) * (format.nanoseconds ? 1u : 1000u);
  out.data = data + kCaptureRecordHeaderLen;
  out.caplen = std::min(caplen, format.snapshot);  // libpcap reads the rest and drops it
  out.stored_bytes = static_cast<uint32_t>(stored);
  return RecordParse::record;
}

CaptureFile::CaptureFile(const std::string& path, size_t buffer_bytes)
    : capacity_(std::max(buffer_bytes, kCaptureRecordHeaderLen + kMaxCaptureRecordBytes)) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error(path + ": " + std::strerror(errno));
  posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  buffer_ = std::make_unique<uint8_t[]>(capacity_);
}

CaptureFile::~CaptureFile() {
  if (fd_ >= 0) ::close(fd_);
}

bool CaptureFile::refill() noexcept {
  const size_t unread = end_ - begin_;
  if (begin_ != 0 && unread != 0) std::memmove(buffer_.get(), buffer_.get() + begin_, unread);
  begin_ = 0;
  end_ = unread;
  while (end_ < capacity_ && !eof_) {
    const ssize_t got =
        ::pread(fd_, buffer_.get() + end_, capacity_ - end_, static_cast<off_t>(file_offset_));
    if (got < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (got == 0) eof_ = true;
    end_ += static_cast<size_t>(got);
    file_offset_ += static_cast<uint64_t>(got);
  }
  return true;
}

CaptureFile::Next CaptureFile::next(CaptureRecord& out, bool may_refill) noexcept {
  if (over_ != Next::record) return over_;
  if (!header_read_) {
    if (!may_refill) return Next::later;
    header_read_ = true;
    std::optional<ClassicPcapFormat> f;
    if (refill()) f = parse_classic_pcap_header(buffer_.get(), end_);
    if (!f) return over_ = Next::read_error;
    format_ = *f;
    begin_ = kCaptureFileHeaderLen;
  }
  for (;;) {
    size_t need = 0;
    switch (parse_capture_record(format_, buffer_.get() + begin_, end_ - begin_, out, need)) {
      case RecordParse::record:
        begin_ += out.stored_bytes;
        return Next::record;
      case RecordParse::too_big:
        return over_ = Next::too_big;
      case RecordParse::need_more:
        break;
    }
    if (eof_) return over_ = begin_ == end_ ? Next::end : Next::cut;
    if (!may_refill) return Next::later;
    if (!refill()) return over_ = Next::read_error;
  }
}

}  // namespace vxc
