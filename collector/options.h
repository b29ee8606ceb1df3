// Command line and config file (Boost.Program_options). Every long option is
// also accepted in the INI file given with --config, as `name = value`;
// `lane = ...` may repeat there as on the command line.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "dataplane/pcap_record.h"

namespace vxc {

struct LaneOptions {
  std::string name;
  uint32_t vni = 0;
  uint32_t snaplen = 0;         // 0: --snaplen
  std::string filter;           // tcpdump expression over the inner frame; empty: all
  int64_t rotate_mb = -1;       // -1: --rotate-mb
  int64_t rotate_seconds = -1;  // -1: --rotate-seconds
  int64_t ring = -1;            // -1: --ring
  std::string source;           // CIDR of tunnel sources (needs --lane-key vni+source); empty: any
};

struct Options {
  std::vector<std::string> eal_args;  // from --eal and after `--`
  std::string read_pcap;
  uint32_t linger_seconds = 0;
  std::string output_dir = "/var/lib/vxcollector";
  std::vector<LaneOptions> lanes;
  uint32_t snaplen = 128;
  bool auto_lanes = true;  // --unknown-vni auto|drop
  uint32_t max_lanes = 1024;
  std::vector<std::string> allow_sources;
  std::vector<uint16_t> vxlan_ports{4789};
  std::vector<uint16_t> geneve_ports{6081};
  bool lane_key_source = false;  // --lane-key vni+source
  PcapFormat format = PcapFormat::pcap_usec;
  uint64_t rotate_mb = 100;
  uint32_t rotate_seconds = 300;
  uint32_t ring = 0;
  std::string post_rotate;
  uint64_t min_free_mb = 0;
  std::string http_listen = "0.0.0.0:9469";  // "none": no endpoint
  bool exception_tap = false;  // --exception-path tap
  std::vector<uint16_t> exception_tcp_ports;  // empty: the --http-listen port
  uint32_t drain_seconds = 0;  // SIGTERM / POST /drain: /healthz 503 first, RX stops this much later
  uint16_t rx_lcores = 1;
  uint16_t workers = 0;
  uint16_t mtu = 0;
  uint32_t mbufs = 0;  // 0: 32767, or 4095 for --read-pcap (a replay waits instead of queueing)
  uint32_t mbuf_data_room = 0;  // 0: 2048, or room for --mtu plus two VLAN tags when larger
  uint32_t write_buffer_mb = 0;  // 0: 64, or 8 for --read-pcap
  uint32_t frag_timeout_ms = 2000;
  uint32_t frag_max_flows = 4096;
  std::string log_level = "info";
};

// Thrown for a bad option value: main prints the message on one line and exits 2.
struct OptionsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Returns false when --help or --version was printed (exit 0).
bool parse_options(int argc, char** argv, Options& out);

// "name=web,vni=42,snaplen=128,filter=tcp port 443,rotate-mb=100,rotate-seconds=300,ring=20".
// A filter runs up to the next ",key=" of a known key, so it may contain commas.
LaneOptions parse_lane(const std::string& spec);

}  // namespace vxc
