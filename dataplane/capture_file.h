// Reading classic pcap files record by record, with no DPDK: the parsing half
// of the capture reader (capture_reader.h), testable without EAL.
//
// Classic pcap (libpcap's savefile), every field in the writer's byte order:
//   file header, 24 bytes:
//     uint32 magic       a1b2c3d4: microsecond timestamps, a1b23c4d: nanoseconds
//                        (d4c3b2a1, 4d3cb2a1: the same, written in the other byte order)
//     uint16 version_major, uint16 version_minor   (2, 4)
//     int32 thiszone, uint32 sigfigs               (unused)
//     uint32 snaplen     bytes a record holds at most
//     uint32 linktype    1: Ethernet
//   then records, 16 bytes of header and caplen bytes of frame:
//     uint32 ts_sec, uint32 ts_usec_or_nsec, uint32 caplen, uint32 orig_len, frame
//
// Records are given as libpcap (1.10, what net_pcap reads through) gives them,
// so that a replay through this reader and one through net_pcap see the same
// frames: a caplen above 262144 is an error, a caplen above the header's
// snaplen is cut to it, a file that ends inside a record is an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace vxc {

inline constexpr size_t kCaptureFileHeaderLen = 24;
inline constexpr size_t kCaptureRecordHeaderLen = 16;
// libpcap's largest record for Ethernet (MAXIMUM_SNAPLEN): larger is corrupt.
inline constexpr uint32_t kMaxCaptureRecordBytes = 262144;

struct ClassicPcapFormat {
  bool swapped = false;                        // written in the other byte order than this host's
  bool nanoseconds = false;                    // ts_usec_or_nsec holds nanoseconds
  uint32_t snapshot = kMaxCaptureRecordBytes;  // records are cut to this many bytes
};

// The format of a classic pcap Ethernet capture (version 2.4, link type 1)
// from its first `size` bytes. nullopt for anything else (pcapng, other link
// types or versions, a short header): libpcap reads those (net_pcap).
std::optional<ClassicPcapFormat> parse_classic_pcap_header(const uint8_t* data,
                                                           size_t size) noexcept;

struct CaptureRecord {
  // Nanoseconds since the epoch. The fields are read as libpcap reads them
  // (32-bit seconds and fraction, signed unless byte-swapped) so that odd
  // values map to the same time as through net_pcap; a nanosecond capture
  // keeps its nanoseconds.
  uint64_t ts_ns = 0;
  const uint8_t* data = nullptr;
  uint32_t caplen = 0;        // bytes at `data` (cut to the snapshot)
  uint32_t stored_bytes = 0;  // bytes the record takes in the file, header included
};

enum class RecordParse : uint8_t {
  record,     // a whole record
  need_more,  // the record continues past the bytes given (`need` bytes in all)
  too_big,    // caplen above kMaxCaptureRecordBytes: a corrupt record
};

// Parses the record at the start of data[0, size). On `record` fills `out`
// (pointing into `data`); on `need_more` sets `need` (at most
// kCaptureRecordHeaderLen + kMaxCaptureRecordBytes). Reads no byte past size.
RecordParse parse_capture_record(const ClassicPcapFormat& format, const uint8_t* data, size_t size,
                                 CaptureRecord& out, size_t& need) noexcept;

// A classic pcap file read with large pread()s into a fixed buffer: memory
// does not grow with the file, and a record is used in place. Its bytes stay
// where they are, and may be written to, until the caller lets the buffer be
// refilled (next(out, true)): the capture replay (capture_replay.h) hands
// them to the dataplane without copying.
class CaptureFile {
 public:
  static constexpr size_t kDefaultBufferBytes = 1 << 20;

  enum class Next : uint8_t {
    record,      // `out` holds the next record
    end,         // the file ended after a whole record (or had none)
    cut,         // the file ends inside a record (a cut header or frame)
    too_big,     // a record's caplen is above kMaxCaptureRecordBytes
    read_error,  // pread failed, or the header is no longer classic Ethernet pcap
    later,       // the next record is not in the buffer and refilling was not allowed
  };

  // Opens `path`. Throws std::runtime_error naming it when it cannot be opened.
  // `buffer_bytes` is raised to hold the largest record.
  explicit CaptureFile(const std::string& path, size_t buffer_bytes = kDefaultBufferBytes);
  ~CaptureFile();
  CaptureFile(const CaptureFile&) = delete;
  CaptureFile& operator=(const CaptureFile&) = delete;

  // The next record. `may_refill`: the records given so far are no longer
  // used, so the buffer may be refilled (which moves or overwrites them);
  // without it a record not yet in the buffer gives `later`. After anything
  // but `record` and `later` the read is over: every later call returns the same.
  Next next(CaptureRecord& out, bool may_refill = true) noexcept;
  // Valid once next() has been called.
  const ClassicPcapFormat& format() const noexcept { return format_; }

 private:
  // Moves the unread bytes to the front and reads until the buffer is full or
  // the file ends. False on a read error.
  bool refill() noexcept;

  int fd_ = -1;
  std::unique_ptr<uint8_t[]> buffer_;
  size_t capacity_ = 0;
  size_t begin_ = 0;          // first unread byte in buffer_
  size_t end_ = 0;            // one past the last byte read into buffer_
  uint64_t file_offset_ = 0;  // where the next pread starts
  bool eof_ = false;
  bool header_read_ = false;
  ClassicPcapFormat format_;
  Next over_ = Next::record;  // what the read ended with, once it has
};

}  // namespace vxc
