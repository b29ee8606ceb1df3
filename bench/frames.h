// Synthetic mirror traffic for the benchmarks: VXLAN frames carrying TCP, as
// a cloud mirror session delivers a bulk transfer (data segments and their
// ACKs). Pure bytes, no DPDK, so the in-memory generator and the pcap feed
// writer send exactly the same frames.
//
// Mix, by template index i (the send order is then shuffled with a fixed seed):
//   i % 3 == 2: bare ACK (inner TCP with timestamps, no payload: 66 bytes over IPv4)
//   otherwise:  data segment with `payload` bytes (1448: a full 1514-byte inner frame)
//   i % 4 == 3: outer IPv6 (70 bytes of outer headers), else outer IPv4 (50)
//   i % 8 == 5: inner IPv6, else inner IPv4
//   flow (inner addresses and ports, outer UDP source port) unique per template
//   VNI: vnis[i % vnis.size()]
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vxc::bench {

struct FrameMix {
  uint32_t templates = 2048;  // distinct flows
  std::vector<uint32_t> vnis{100, 101, 102, 103};
  uint32_t payload = 1448;  // TCP payload of a data segment, bytes
};

struct Frame {
  std::vector<uint8_t> bytes;  // the whole outer frame
  uint32_t outer_len = 0;      // outer Ethernet + IP + UDP + VXLAN: where the inner frame starts
  uint32_t vni = 0;
  bool ack = false;
};

// Frames in send order. Throws std::invalid_argument on an empty VNI list.
std::vector<Frame> build_frames(const FrameMix& mix);

// Writes `count` frames (cycling through `frames`) as a classic pcap file
// (microseconds, LINKTYPE_ETHERNET, snaplen 65535), one microsecond apart.
// Throws std::runtime_error on an I/O error.
void write_pcap(const std::string& path, const std::vector<Frame>& frames, uint64_t count);

}  // namespace vxc::bench
