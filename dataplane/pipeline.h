// The dataplane: RX lcores classify and decapsulate, worker lcores own lanes.
//
//   port queue --rx_burst--> RX lcore: parse_outer, allow-list, IPv4 reassembly
//        --SPSC ring per (RX lcore, worker)--> worker lcore: lane lookup, BPF
//        filter, truncate to snaplen, encode records into WriteBlocks
//        --SPSC ring per worker--> writer thread (collector/writer.h)
//
// With workers == 0 the single RX lcore runs the worker stage itself on each
// burst (run to completion); the code is the same.
//
// Threads: the control plane builds a Pipeline after rte_eal_init, starts the
// writer threads, then calls run() on the main thread. Everything the
// dataplane shares with other threads is a Counter (one writer), an atomic
// flag, or an rte_ring.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "counters.h"
#include "lanes.h"
#include "outer_parse.h"
#include "pcap_record.h"

struct rte_mempool;
struct rte_ring;

namespace vxc {

struct Cidr {
  uint8_t ip_version = 4;  // 4 or 6
  std::array<uint8_t, 16> addr{};
  uint8_t prefix_len = 0;

  // Parses "10.0.0.0/8", "2001:db8::/32" or a bare address; host bits past the
  // prefix must be zero. Throws std::invalid_argument.
  static Cidr parse(const std::string& text);
  bool contains(uint8_t ip_version, const std::array<uint8_t, 16>& address) const noexcept;
};

struct ExplicitLane {
  uint32_t vni = 0;
  uint32_t snaplen = 128;
  std::string filter;          // tcpdump expression; empty = everything
  std::optional<Cidr> source;  // only with LaneKeyMode::vni_source: tunnel sources in this CIDR
};

enum class LaneKeyMode : uint8_t {
  vni,         // one lane per VNI
  vni_source,  // one lane per VNI and source address of the header that carried it
};

// The directory and file name of an auto lane: vni-<VNI>, vni-<VNI>-<source>
// (IPv6 with '-' for ':') or gwlbe-<16 hex digits>.
std::string auto_lane_name(const LaneKey& key);
// The source label of a vni+source lane ("" otherwise).
std::string lane_source_label(const LaneKey& key);

// A port whose frames the collector reads from a capture file itself, in the
// port's RX callback on its RX lcore (CaptureReplay), stamped with the
// capture's own time in nanoseconds. The counts replace the PMD's.
struct PortFeed {
  // Written by the RX lcore only (relaxed stores, one writer); any thread reads.
  std::atomic<bool> ended{false};       // every record there is has been given out
  std::atomic<uint64_t> frames{0};      // records given out as frames
  std::atomic<uint64_t> unreadable{0};  // 1 once reading stopped at a record it could not read
};

struct PipelineConfig {
  ParseConfig parse;
  std::vector<Cidr> allow_sources;  // empty: VXLAN from any source
  bool auto_lanes = true;           // unknown key: new lane (true) or drop unknown_vni
  LaneKeyMode lane_key = LaneKeyMode::vni;
  uint32_t max_lanes = 1024;
  uint32_t default_snaplen = 128;
  PcapFormat format = PcapFormat::pcap_usec;
  uint16_t rx_lcores = 1;
  uint16_t workers = 0;  // 0: the RX lcore runs the lanes itself (rx_lcores must be 1)
  std::vector<uint16_t> ports;
  // Exception path: [port index] the TAP port whose kernel interface gets that
  // port's ARP, ICMP and health-check frames (ParseConfig::exception_path) and
  // whose answers go out of the port. Empty: no exception path.
  std::vector<uint16_t> exception_ports;
  uint16_t mtu = 0;                // 0: leave the port's MTU as it is
  uint32_t rx_descriptors = 1024;  // per queue
  uint32_t mbufs = 32767;
  // Bytes of frame one mbuf holds. Larger frames arrive as chains where the
  // PMD supports scatter; net_af_packet needs its framesz to fit in one.
  uint32_t mbuf_data_room = 2048;
  uint32_t write_buffer_mb = 64;  // write blocks per worker, in MiB
  uint32_t flush_ms = 100;        // partly filled blocks go to the writer at least this often
  uint32_t frag_timeout_ms = 2000;
  uint32_t frag_max_flows = 4096;  // per RX lcore
  // A replay (--read-pcap) has a source that can wait: full rings and a busy
  // writer then hold RX back instead of dropping (worker_busy, writer_busy).
  bool backpressure = false;
  // The ports are capture files (net_pcap rx_pcap, or a PortFeed): each RX
  // lcore notices when all of them have ended (Pipeline::sources_ended).
  bool file_sources = false;
  // The process ends after the pipeline: its mbuf pool and reassembly tables
  // are left to rte_eal_cleanup, which unmaps them, instead of rte_free,
  // which first clears every byte (~15 ms for a replay's 24 MiB).
  bool leave_memory_to_eal = false;
  // With file_sources: [port index] the feed that reads the port's capture
  // (the capture replay, capture_replay.h), or null for a net_pcap port.
  // Empty: every port is net_pcap.
  std::vector<const PortFeed*> port_feeds;
};

struct PortStats {
  uint64_t rx_packets = 0;  // taken from the port's queues by the RX lcores
  uint64_t rx_bytes = 0;
  uint64_t nic_rx_packets = 0;  // rte_eth_stats ipackets
  uint64_t missed = 0;          // imissed: dropped by the NIC/PMD for lack of room
  uint64_t errors = 0;          // ierrors
  uint64_t nombuf = 0;          // rx_nombuf
  bool link_up = false;
};

class Pipeline {
 public:
  // Needs rte_eal_init done. Creates the mempool, configures and starts the
  // ports, rings, write blocks, BPF filters and the explicit lanes. Throws
  // std::runtime_error naming the port or resource on failure.
  Pipeline(const PipelineConfig& config, const std::vector<ExplicitLane>& lanes);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Runs every dataplane role on its EAL lcore (the main lcore's role on the
  // calling thread) and returns once all have stopped and drained.
  void run();
  // Any thread: RX stops, rings drain, workers hand over their last blocks.
  void request_stop() noexcept { stop_.store(true, std::memory_order_relaxed); }

  const PipelineConfig& config() const { return config_; }
  uint16_t worker_count() const;  // lane-owning lcores (1 when workers == 0)

  // Writer side of worker w's blocks.
  rte_ring* full_blocks(uint16_t worker) const;
  rte_ring* free_blocks(uint16_t worker) const;
  // True once worker w has handed over its last block.
  bool worker_done(uint16_t worker) const;
  // With file_sources: true once every RX lcore has read its ports to the end
  // of their files, or to their first record that cannot be read (nothing
  // after it is read). Every frame is then counted in port_stats. Any thread.
  bool sources_ended() const;

  uint32_t lane_count() const;  // slots in use (some may not be active yet)
  LaneSlot& lane(uint32_t index) const;

  // Reader side (scrape time).
  size_t lcore_count() const;
  const LcoreCounters& lcore_counters(size_t role) const;
  PortStats port_stats(size_t port_index) const;
  // Where the frame times of port p come from, in words for the log: the
  // PMD's stamps where their clock can be put on the wall clock, else the TSC.
  const char* port_time_source(size_t port_index) const;
  uint64_t packets_in_rings() const;  // between RX lcores and workers

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  PipelineConfig config_;
  std::atomic<bool> stop_{false};  // ctlplane: wo; dataplane: ro
};

}  // namespace vxc
