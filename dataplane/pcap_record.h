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
  uint32_t h[7];
  if (format == PcapFormat::pcapng) {
    const uint32_t total = static_cast<uint32_t>(record_size(format, caplen));
    h[0] = 6;
    h[1] = total;
    h[2] = 0;
    h[3] = static_cast<uint32_t>(ts_ns >> 32);
    h[4] = static_cast<uint32_t>(ts_ns);
    h[5] = caplen;
    h[6] = orig_len;
    std::memcpy(dst, h, 28);
    return dst + 28;
  }
  h[0] = static_cast<uint32_t>(ts_ns / 1000000000u);
  const uint32_t frac = static_cast<uint32_t>(ts_ns % 1000000000u);
  h[1] = format == PcapFormat::pcap_usec ? frac / 1000u : frac;
  h[2] = caplen;
  h[3] = orig_len;
  std::memcpy(dst, h, kPcapRecordHeaderLen);
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
