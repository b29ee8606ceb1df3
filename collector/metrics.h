// Where every packet went: summed from the per-lcore, per-lane and per-writer
// counters when asked (a scrape, the exit summary), never on the hot path.
//
// Accounting: received = written + filtered + exception + fragments_merged
//                        + sum(drops) + buffered
// buffered is what sits in rings and write blocks on its way to a file; it is
// 0 once the collector has stopped.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/drop_reason.h"
#include "dataplane/pipeline.h"

namespace vxc {

class Writer;

struct LaneTotals {
  std::string name;
  uint32_t vni = 0;
  bool has_vni = true;  // false for gwlbe lanes (keyed by endpoint, not VNI)
  std::string source;   // --lane-key vni+source: the tunnel source address
  std::string gwlbe;    // GWLB endpoint ENI id (16 hex digits) the lane's first packet came through
  uint64_t written = 0;        // packets in files
  uint64_t filtered = 0;       // packets the capture filter rejected
  uint64_t bytes = 0;          // inner bytes of the written packets, before truncation
  uint64_t written_bytes = 0;  // record bytes written to files
  uint64_t files = 0;          // files completed
  uint64_t buffered = 0;       // handed to the writer, not yet written or dropped
};

struct Totals {
  uint64_t received = 0;
  uint64_t written = 0;
  uint64_t filtered = 0;
  uint64_t exception = 0;
  uint64_t exception_out = 0;         // kernel -> port through the exception path
  uint64_t exception_out_failed = 0;  // of those, not taken by the port
  uint64_t fragments_merged = 0;
  uint64_t fragments_in = 0;
  uint64_t reassembled = 0;
  uint64_t buffered = 0;
  std::array<uint64_t, kDropReasonCount> drops{};
  uint64_t drops_total = 0;
  std::vector<LaneTotals> lanes;
  std::vector<PortStats> ports;
  std::vector<std::string> port_names;
  // Per port: the PMD's extended statistics (name, value).
  std::vector<std::vector<std::pair<std::string, uint64_t>>> port_xstats;
};

// What the control plane knows that the dataplane counters do not.
struct ControlState {
  uint64_t files_deleted_for_space = 0;
  uint64_t post_rotate_failures = 0;
  uint64_t output_free_bytes = 0;      // available to the collector on --output-dir's filesystem
  uint64_t output_min_free_bytes = 0;  // --min-free-mb in bytes
  bool draining = false;               // /healthz says 503 so load balancers move away; RX still runs
  // net_af_packet's sockets have the kernel reassemble outer IPv4 fragments
  // before the ring; what it fails to reassemble shows only in the network
  // namespace's IP counters (/proc/net/snmp ReasmFails, ReasmReqds).
  bool kernel_reassembly = false;  // some port is net_af_packet
  uint64_t kernel_reassembly_failures = 0;
  uint64_t kernel_reassembly_fragments = 0;
};

// ReasmFails and ReasmReqds of this network namespace (0, 0 when unreadable).
std::pair<uint64_t, uint64_t> kernel_reassembly_counts();

// name_of gives a lane's name (explicit name or vni-<VNI>).
Totals collect_totals(const Pipeline& pipeline, const std::vector<const Writer*>& writers,
                      const std::vector<std::string>& explicit_names);

std::string render_metrics(const Totals& t, const ControlState& control);
// The one-line JSON summary printed at exit.
std::string render_summary_json(const Totals& t);

}  // namespace vxc
