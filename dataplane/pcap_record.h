// Encoding of one captured packet as a pcap or pcapng record.
//
// The worker lcore encodes records straight into write blocks; the writer
// thread only ever writes whole records, so a file cut at a block boundary is
// still a valid capture. File headers are written by collector/pcap_file.
//
// Classic pcap record (host byte order; the file's magic tells readers which):
//   uint32 ts_sec; uint32 ts_usec_or_nsec; uint32 incl_len; uint32 orig_len; data
// pcapng Enhanced Packet Block (interface 0, if_tsresol = 9: nanoseconds):
//   uint32 type=6; uint32 total_len; uint32 if_id; uint32 ts_high; uint32 ts_low;
//   uint32 cap_len; uint32 orig_len; data padded to 4; uint32 total_len
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace vxc {

enum class PcapFormat : uint8_t { pcap_usec, pcap_nsec, pcapng };

inline constexpr size_t kPcapRecordHeaderLen = 16;
inline constexpr size_t kPcapngEpbOverhead = 32;

// Bytes a record with `caplen` captured bytes takes in `format`.
constexpr size_t record_size(PcapFormat format, uint32_t caplen) {
  return format == PcapFormat::pcapng ? kPcapngEpbOverhead + ((caplen + 3u) & ~3u)
                                      : kPcapRecordHeaderLen + caplen;
}

// Writes the record header for a packet captured at `ts_ns` (UTC nanoseconds)
// and returns where its `caplen` data bytes go. The caller copies the data and
// then calls finish_record. `dst` must have record_size(format, caplen) bytes.
inline uint8_t* begin_record(PcapFormat format, uint8_t* dst, uint64_t ts_ns, uint32_t caplen,
                             uint32_t orig_len) {
  // Field by field into dst: a header assembled on the stack and copied as a
  // whole was read back across narrower stores (a store-forwarding stall on
  // every record, seen in perf).
  auto put = [&dst](size_t at, uint32_t v) { std::memcpy(dst + at, &v, 4); };
  if (format == PcapFormat::pcapng) {
    put(0, 6);
    put(4, static_cast<uint32_t>(record_size(format, caplen)));
    put(8, 0);
    put(12, static_cast<uint32_t>(ts_ns >> 32));
    put(16, static_cast<uint32_t>(ts_ns));
    put(20, caplen);
    put(24, orig_len);
    return dst + 28;
  }
  const uint32_t frac = static_cast<uint32_t>(ts_ns % 1000000000u);
  put(0, static_cast<uint32_t>(ts_ns / 1000000000u));
  put(4, format == PcapFormat::pcap_usec ? frac / 1000u : frac);
  put(8, caplen);
  put(12, orig_len);
  return dst + kPcapRecordHeaderLen;
}

// Pads and closes a pcapng block; nothing to do for classic pcap.
inline void finish_record(PcapFormat format, uint8_t* dst, uint32_t caplen) {
  if (format != PcapFormat::pcapng) return;
  const uint32_t total = static_cast<uint32_t>(record_size(format, caplen));
  uint8_t* data_end = dst + 28 + caplen;
  std::memset(data_end, 0, ((caplen + 3u) & ~3u) - caplen);
  std::memcpy(dst + total - 4, &total, 4);
}

}  // namespace vxc
