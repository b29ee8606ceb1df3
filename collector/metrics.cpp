#include "metrics.h"

#include <fstream>
#include <sstream>

#include <spdlog/fmt/fmt.h>

#include "collector/exposition.h"
#include "collector/writer.h"
#include "dataplane/port.h"

namespace vxc {

Totals collect_totals(const Pipeline& pipeline, const std::vector<const Writer*>& writers,
                      const std::vector<std::string>& explicit_names) {
  Totals t;
  for (size_t role = 0; role < pipeline.lcore_count(); ++role) {
    const LcoreCounters& c = pipeline.lcore_counters(role);
    t.received += c.received.get();
    t.exception += c.exception.get();
    t.exception_out += c.exception_out.get();
    t.exception_out_failed += c.exception_out_failed.get();
    t.fragments_merged += c.fragments_merged.get();
    t.fragments_in += c.fragments_in.get();
    t.reassembled += c.reassembled.get();
    for (size_t r = 0; r < kDropReasonCount; ++r) t.drops[r] += c.drops[r].get();
  }
  for (const Writer* w : writers)
    for (size_t r = 0; r < kDropReasonCount; ++r) t.drops[r] += w->drops()[r].get();
  for (uint64_t d : t.drops) t.drops_total += d;

  for (uint32_t i = 0; i < pipeline.lane_count(); ++i) {
    const LaneSlot& slot = pipeline.lane(i);
    if (!slot.active.load(std::memory_order_acquire)) continue;
    LaneTotals l;
    l.name = slot.config_index == LaneSlot::kAutoLane ? auto_lane_name(slot.key)
                                                       : explicit_names.at(slot.config_index);
    l.vni = slot.vni;
    l.has_vni = slot.key.kind() != LaneKey::gwlbe;
    l.source = lane_source_label(slot.key);
    if (slot.has_gwlbe_eni) l.gwlbe = fmt::format("{:016x}", slot.gwlbe_eni);
    l.filtered = slot.filtered.get();
    l.files = slot.files_completed.get();
    // Read the writer's side first so buffered never goes negative.
    const uint64_t failed = slot.write_failed.get();
    l.written = slot.written.get();
    l.bytes = slot.inner_bytes.get();
    l.written_bytes = slot.written_bytes.get();
    const uint64_t appended = slot.buffered.get();
    l.buffered = appended - l.written - failed;
    t.written += l.written;
    t.filtered += l.filtered;
    t.buffered += l.buffered;
    t.lanes.push_back(std::move(l));
  }
  t.buffered += pipeline.packets_in_rings();
  for (size_t p = 0; p < pipeline.config().ports.size(); ++p) {
    t.ports.push_back(pipeline.port_stats(p));
    t.port_names.push_back(port_name(pipeline.config().ports[p]));
    t.port_xstats.push_back(port_xstats(pipeline.config().ports[p]));
  }
  return t;
}

std::pair<uint64_t, uint64_t> kernel_reassembly_counts() {
  std::ifstream in("/proc/self/net/snmp");
  std::string names, values;
  while (std::getline(in, names) && std::getline(in, values)) {
    if (names.rfind("Ip: ", 0) != 0) continue;
    std::istringstream n(names), v(values);
    std::string name, value;
    uint64_t fails = 0, reqds = 0;
    while (n >> name && v >> value) {
      if (name == "ReasmFails") fails = std::stoull(value);
      if (name == "ReasmReqds") reqds = std::stoull(value);
    }
    return {fails, reqds};
  }
  return {0, 0};
}

std::string render_metrics(const Totals& t, const ControlState& control) {
  Exposition e;
  e.family("vxcollector_build_info", "gauge", "Build of the running collector.");
  e.sample({{"version", VXC_VERSION}}, uint64_t{1});

  std::vector<std::string> port_ids;
  for (size_t p = 0; p < t.ports.size(); ++p) port_ids.push_back(std::to_string(p));
  auto per_port = [&](const char* name, const char* type, const char* help, auto field) {
    e.family(name, type, help);
    for (size_t p = 0; p < t.ports.size(); ++p)
      e.sample({{"port", port_ids[p]}, {"device", t.port_names[p]}}, field(t.ports[p]));
  };
  per_port("vxcollector_port_rx_packets_total", "counter",
           "Frames the RX lcores took from the port's queues.",
           [](const PortStats& s) { return s.rx_packets; });
  per_port("vxcollector_port_rx_bytes_total", "counter", "Bytes of those frames.",
           [](const PortStats& s) { return s.rx_bytes; });
  per_port("vxcollector_port_missed_packets_total", "counter",
           "Frames the NIC or PMD dropped for lack of RX descriptors (imissed; for net_af_packet, "
           "the kernel ring's drops).",
           [](const PortStats& s) { return s.missed; });
  per_port("vxcollector_port_errors_total", "counter", "Erroneous frames the port received (ierrors).",
           [](const PortStats& s) { return s.errors; });
  per_port("vxcollector_port_nombuf_total", "counter",
           "Frames lost because the mbuf pool was empty (rx_nombuf).",
           [](const PortStats& s) { return s.nombuf; });
  per_port("vxcollector_port_link_up", "gauge", "1 when the port's link is up.",
           [](const PortStats& s) { return uint64_t{s.link_up ? 1u : 0u}; });

  e.family("vxcollector_port_xstats_total", "counter",
           "The port's extended statistics as its driver names them (ENA: "
           "bw_in_allowance_exceeded, pps_allowance_exceeded, ...).");
  for (size_t p = 0; p < t.port_xstats.size(); ++p)
    for (const auto& [name, value] : t.port_xstats[p])
      e.sample({{"port", port_ids[p]}, {"device", t.port_names[p]}, {"name", name}}, value);

  e.family("vxcollector_received_packets_total", "counter",
           "Frames received by the dataplane, all ports.");
  e.sample({}, t.received);
  e.family("vxcollector_exception_packets_total", "counter",
           "Frames handed to the exception path (the kernel).");
  e.sample({}, t.exception);
  e.family("vxcollector_exception_sent_packets_total", "counter",
           "Frames the kernel sent out of a port through the exception path.");
  e.sample({}, t.exception_out);
  e.family("vxcollector_exception_send_failures_total", "counter",
           "Of those, frames the port's TX queue did not take.");
  e.sample({}, t.exception_out_failed);
  e.family("vxcollector_fragments_merged_total", "counter",
           "Outer IPv4 fragments absorbed into a reassembled datagram (n-1 per datagram).");
  e.sample({}, t.fragments_merged);
  e.family("vxcollector_reassembled_datagrams_total", "counter",
           "Outer IPv4 datagrams rebuilt from fragments.");
  e.sample({}, t.reassembled);
  e.family("vxcollector_buffered_packets", "gauge",
           "Packets on their way to a file (rings and write buffers).");
  e.sample({}, t.buffered);

  e.family("vxcollector_drops_total", "counter", "Frames dropped, by reason.");
  for (size_t r = 0; r < kDropReasonCount; ++r)
    e.sample({{"reason", kDropReasonNames[r]}}, t.drops[r]);

  auto per_lane = [&](const char* name, const char* help, auto field) {
    e.family(name, "counter", help);
    for (const LaneTotals& l : t.lanes) {
      const std::string vni = l.has_vni ? std::to_string(l.vni) : "";
      e.sample({{"lane", l.name}, {"vni", vni}, {"source", l.source}, {"gwlbe", l.gwlbe}}, field(l));
    }
  };
  per_lane("vxcollector_lane_packets_total", "Packets written to the lane's files.",
           [](const LaneTotals& l) { return l.written; });
  per_lane("vxcollector_lane_bytes_total",
           "Inner bytes of the written packets, before truncation to snaplen.",
           [](const LaneTotals& l) { return l.bytes; });
  per_lane("vxcollector_lane_written_bytes_total", "Record bytes written to the lane's files.",
           [](const LaneTotals& l) { return l.written_bytes; });
  per_lane("vxcollector_filtered_packets_total", "Packets the lane's capture filter rejected.",
           [](const LaneTotals& l) { return l.filtered; });
  e.family("vxcollector_files_completed_total", "counter", "Capture files completed (renamed from .part).");
  for (const LaneTotals& l : t.lanes) e.sample({{"lane", l.name}}, l.files);
  e.family("vxcollector_lanes", "gauge", "Lanes in use.");
  e.sample({}, static_cast<uint64_t>(t.lanes.size()));
  e.family("vxcollector_files_deleted_for_space_total", "counter",
           "Completed files deleted to keep --min-free-mb free.");
  e.sample({}, control.files_deleted_for_space);
  e.family("vxcollector_post_rotate_failures_total", "counter",
           "Post-rotate commands that failed or exited non-zero.");
  e.sample({}, control.post_rotate_failures);
  e.family("vxcollector_output_free_bytes", "gauge",
           "Bytes free for the collector on the output directory's filesystem.");
  e.sample({}, control.output_free_bytes);
  e.family("vxcollector_output_min_free_bytes", "gauge",
           "--min-free-mb in bytes: oldest files are deleted to keep this free (0: no cap).");
  e.sample({}, control.output_min_free_bytes);
  if (control.kernel_reassembly) {
    e.family("vxcollector_kernel_reassembly_failures_total", "counter",
             "Outer IPv4 fragments the kernel failed to reassemble for net_af_packet ports "
             "(this network namespace's ReasmFails: all of its traffic).");
    e.sample({}, control.kernel_reassembly_failures);
    e.family("vxcollector_kernel_reassembly_fragments_total", "counter",
             "Fragments the kernel was given to reassemble (ReasmReqds, this network namespace).");
    e.sample({}, control.kernel_reassembly_fragments);
  }
  e.family("vxcollector_draining", "gauge",
           "1 while draining: /healthz answers 503 so load balancers stop sending, RX still runs.");
  e.sample({}, uint64_t{control.draining ? 1u : 0u});
  return e.text();
}

namespace {

// Lane names are [A-Za-z0-9_.-] and reason names are identifiers: no escaping needed.
void json_pair(std::ostringstream& o, const char* key, uint64_t v, bool comma = true) {
  o << '"' << key << "\":" << v << (comma ? "," : "");
}

}  // namespace

std::string render_summary_json(const Totals& t) {
  std::ostringstream o;
  o << "{\"event\":\"summary\",";
  json_pair(o, "received", t.received);
  json_pair(o, "written", t.written);
  json_pair(o, "filtered", t.filtered);
  json_pair(o, "exception", t.exception);
  json_pair(o, "fragments_merged", t.fragments_merged);
  json_pair(o, "buffered", t.buffered);
  o << "\"drops\":{";
  for (size_t r = 0; r < kDropReasonCount; ++r)
    json_pair(o, std::string(kDropReasonNames[r]).c_str(), t.drops[r], r + 1 < kDropReasonCount);
  o << "},\"lanes\":{";
  for (size_t i = 0; i < t.lanes.size(); ++i) {
    const LaneTotals& l = t.lanes[i];
    o << '"' << l.name << "\":{";
    if (l.has_vni) json_pair(o, "vni", l.vni);
    if (!l.source.empty()) o << "\"source\":\"" << l.source << "\",";
    if (!l.gwlbe.empty()) o << "\"gwlbe\":\"" << l.gwlbe << "\",";
    json_pair(o, "written", l.written);
    json_pair(o, "filtered", l.filtered);
    json_pair(o, "bytes", l.bytes);
    json_pair(o, "written_bytes", l.written_bytes);
    json_pair(o, "files", l.files, false);
    o << '}' << (i + 1 < t.lanes.size() ? "," : "");
  }
  o << "},\"ports\":{";
  for (size_t p = 0; p < t.ports.size(); ++p) {
    const PortStats& s = t.ports[p];
    o << '"' << p << "\":{";
    json_pair(o, "rx", s.rx_packets);
    json_pair(o, "missed", s.missed);
    json_pair(o, "errors", s.errors);
    json_pair(o, "nombuf", s.nombuf, false);
    o << '}' << (p + 1 < t.ports.size() ? "," : "");
  }
  o << "}}";
  return o.str();
}

}  // namespace vxc
