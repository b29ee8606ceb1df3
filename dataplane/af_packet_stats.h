// What the collector knows about net_af_packet's kernel ring (DPDK 22.11):
// the frames the kernel drops when the ring is full, and a default ring size.
//
// net_af_packet reads frames from a TPACKET_V2 ring (PACKET_RX_RING) of one
// AF_PACKET socket per queue. When the ring is full the kernel drops the frame
// and counts it only in the socket's PACKET_STATISTICS (tp_drops); the PMD
// never reads that, and its rte_eth_stats report imissed = ierrors = 0. So
// these drops are read here, from every such socket of this process, and
// reported as the port's `missed`.
//
// Not counted anywhere here: frames the kernel drops before the socket (the
// per-CPU backlog, netdev_max_backlog; fragments the socket's
// PACKET_FANOUT_FLAG_DEFRAG could not reassemble), and frames still in the
// ring when the port stops.
#pragma once

#include <cstdint>
#include <string>

namespace vxc {

struct AfPacketCounts {
  uint64_t packets = 0;  // frames the kernel offered the sockets (into the ring or dropped)
  uint64_t drops = 0;    // of those, dropped because the ring was full (tp_drops)
};

// Totals since process start over the AF_PACKET sockets of this process that
// net_af_packet made for interface `ifindex` (of the process's network
// namespace), found through /proc/self/fd: TPACKET_V2, in a PACKET_FANOUT
// group, bound to `ifindex`. Other packet sockets (libpcap's, so net_pcap's)
// are left alone: their owners read their statistics. Reading
// PACKET_STATISTICS resets the kernel's counters, so every read is added to a
// process-wide table: read them only through this function. Thread-safe (a
// mutex); control plane only.
AfPacketCounts af_packet_counts(int ifindex);

// Kernel ring drops of `port_id` when its driver is net_af_packet (the
// interface from rte_eth_dev_info's if_index), else 0. Adding this to the
// port's imissed never counts a frame twice: each read takes the drops since
// the previous read, whoever read them.
uint64_t af_packet_port_drops(uint16_t port_id);

// Ring geometry the collector gives net_af_packet when a --vdev names none.
// The PMD's own default, 512 frames of 2 KiB in 4 KiB blocks, holds about
// 5 ms of a 100 kpps feed.
struct AfPacketRing {
  uint32_t blocksz = 0;
  uint32_t framesz = 0;
  uint32_t framecnt = 0;
};

// RX ring bytes per queue (the PMD maps a TX ring of the same size beside it,
// so 128 MiB of locked kernel memory per queue): with 2 KiB frames 32768 of
// them, 100 ms of a 330k frames/s feed (more than one AF_PACKET queue takes
// here); with 9 KiB frames 100 ms of 5 Gbit/s.
inline constexpr uint32_t kAfPacketRingBytes = 64u << 20;
// Bytes the PMD keeps of a ring frame's header (TPACKET2_HDRLEN - sizeof(sockaddr_ll)):
// the rest of the frame must fit one mbuf, or RX queue set-up fails.
inline constexpr uint32_t kAfPacketFrameOverhead = 32;
// Where tpacket_rcv puts an Ethernet frame in a TPACKET_V2 ring frame:
// TPACKET_ALIGN(TPACKET2_HDRLEN + 16) - 14. A frame longer than
// framesz - kAfPacketMacOffset is cut.
inline constexpr uint32_t kAfPacketMacOffset = 66;

// A ring of kAfPacketRingBytes of kernel allocations, its frames as large as
// the PMD accepts with mbufs of `mbuf_data_room` bytes (mbuf_data_room + 32,
// a multiple of 16) or at most 1 KiB smaller, in blocks that hold a whole
// number of frames and nothing else: the PMD finds frame i at i * framesz and
// silently stops receiving at the first frame where the kernel's layout
// differs. A block is whole pages and fills its 2^k-page kernel allocation to
// within 1/16 where a frame size allows. With 4 KiB pages: mbuf_data_room
// 2048 gives 32768 frames of 2048 bytes (Ethernet frames up to 1982 whole)
// in 4 KiB blocks; 9216 gives 7168 frames of 9216 bytes (up to 9150: an
// MTU 9001 frame with two VLAN tags) in blocks of 28 frames.
AfPacketRing af_packet_default_ring(uint32_t mbuf_data_room);

// `devargs` of a --vdev: when it names a net_af_packet (or eth_af_packet)
// device and none of blocksz, framesz, framecnt, returns it with
// af_packet_default_ring(mbuf_data_room) appended; else unchanged.
std::string with_af_packet_ring_defaults(const std::string& devargs, uint32_t mbuf_data_room);

}  // namespace vxc
