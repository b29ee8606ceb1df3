#include "options.h"

#include "dataplane/pipeline.h"

#include <pcap/pcap.h>

#include <boost/program_options.hpp>
#include <algorithm>
#include <fstream>
#include <iostream>
#include <limits>
#include <regex>

namespace po = boost::program_options;

namespace vxc {
namespace {

constexpr const char* kLaneKeys[] = {"name", "vni", "snaplen", "filter", "rotate-mb",
                                     "rotate-seconds", "ring", "source"};

uint64_t to_number(const std::string& what, const std::string& text, uint64_t max) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    throw OptionsError(what + ": '" + text + "' is not a non-negative integer");
  uint64_t v = 0;
  try {
    v = std::stoull(text);
  } catch (const std::exception&) {
    throw OptionsError(what + ": '" + text + "' is out of range");
  }
  if (v > max) throw OptionsError(what + ": " + text + " is above the maximum " + std::to_string(max));
  return v;
}

bool is_lane_key(const std::string& key) {
  for (const char* k : kLaneKeys)
    if (key == k) return true;
  return false;
}

void check_snaplen(const std::string& what, uint64_t v) {
  if (v < 14 || v > 65535) throw OptionsError(what + ": snaplen must be 14..65535");
}

// Boost converts "-1" to an unsigned option by wrapping it; refuse anything
// but digits for the numeric options before it gets the chance.
void check_unsigned_values(const po::parsed_options& parsed) {
  static const char* const kNumeric[] = {
      "linger-seconds", "snaplen", "max-lanes", "vxlan-port", "rotate-mb", "rotate-seconds", "ring",
      "min-free-mb", "drain-seconds", "geneve-port", "exception-tcp-port", "rx-lcores", "workers", "mtu", "mbufs", "mbuf-data-room", "write-buffer-mb", "frag-timeout-ms",
      "frag-max-flows"};
  for (const po::option& opt : parsed.options) {
    bool numeric = false;
    for (const char* name : kNumeric) numeric |= opt.string_key == name;
    if (!numeric) continue;
    for (const std::string& v : opt.value)
      if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos)
        throw OptionsError("--" + opt.string_key + ": '" + v + "' is not a non-negative integer");
  }
}

// Compiles a capture filter with libpcap alone (no EAL yet), so a bad one is
// an option error; the dataplane compiles it again for DPDK's BPF.
void check_filter(const std::string& lane, const std::string& expression) {
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  if (dead == nullptr) throw OptionsError("libpcap: pcap_open_dead failed");
  bpf_program program{};
  const int rc = pcap_compile(dead, &program, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN);
  const std::string why = rc != 0 ? pcap_geterr(dead) : "";
  if (rc == 0) pcap_freecode(&program);
  pcap_close(dead);
  if (rc != 0) throw OptionsError("--lane " + lane + ": filter '" + expression + "': " + why);
}

}  // namespace

LaneOptions parse_lane(const std::string& spec) {
  LaneOptions lane;
  bool have_vni = false;
  // Split on commas that start a known "key=".
  std::vector<std::pair<std::string, std::string>> items;
  size_t pos = 0;
  while (pos <= spec.size()) {
    const size_t eq = spec.find('=', pos);
    if (eq == std::string::npos) throw OptionsError("--lane '" + spec + "': expected key=value");
    const std::string key = spec.substr(pos, eq - pos);
    if (!is_lane_key(key))
      throw OptionsError("--lane '" + spec + "': unknown key '" + key +
                         "' (name, vni, snaplen, filter, rotate-mb, rotate-seconds, ring, source)");
    size_t end = eq + 1;
    for (;;) {
      end = spec.find(',', end);
      if (end == std::string::npos) break;
      const size_t next_eq = spec.find('=', end + 1);
      if (next_eq != std::string::npos && is_lane_key(spec.substr(end + 1, next_eq - end - 1))) break;
      if (key != "filter") break;  // only a filter may hold commas
      ++end;
    }
    items.emplace_back(key, spec.substr(eq + 1, end == std::string::npos ? std::string::npos : end - eq - 1));
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  const std::string what = "--lane '" + spec + "'";
  for (const auto& [key, value] : items) {
    if (key == "name") {
      if (!std::regex_match(value, std::regex("[A-Za-z0-9_.-]{1,64}")) || value == "." || value == "..")
        throw OptionsError(what + ": name must be 1-64 of A-Z a-z 0-9 _ . -");
      lane.name = value;
    } else if (key == "vni") {
      lane.vni = static_cast<uint32_t>(to_number(what + " vni", value, 0xffffff));
      have_vni = true;
    } else if (key == "snaplen") {
      lane.snaplen = static_cast<uint32_t>(to_number(what + " snaplen", value, 65535));
      check_snaplen(what, lane.snaplen);
    } else if (key == "filter") {
      lane.filter = value;
    } else if (key == "rotate-mb") {
      lane.rotate_mb = static_cast<int64_t>(to_number(what + " rotate-mb", value, 1u << 30));
    } else if (key == "rotate-seconds") {
      lane.rotate_seconds = static_cast<int64_t>(to_number(what + " rotate-seconds", value, 1u << 30));
    } else if (key == "ring") {
      lane.ring = static_cast<int64_t>(to_number(what + " ring", value, 1u << 30));
    } else if (key == "source") {
      try {
        Cidr::parse(value);
      } catch (const std::invalid_argument& e) {
        throw OptionsError(what + ": source: " + e.what());
      }
      lane.source = value;
    }
  }
  if (!have_vni) throw OptionsError(what + ": vni= is required");
  if (lane.name.empty()) lane.name = "vni-" + std::to_string(lane.vni);
  return lane;
}

bool parse_options(int argc, char** argv, Options& out) {
  const Options d;
  std::string config_file, eal, unknown_vni = "auto", format = "pcap", lane_key = "vni",
              exception_path = "none";
  std::vector<std::string> lanes;
  std::vector<uint32_t> ports, geneve_ports, exception_tcp_ports;
  po::options_description desc(
      "vxcollector: terminates VXLAN mirror traffic with DPDK and writes per-VNI pcap files\n\n"
      "Usage: vxcollector [options] [-- EAL arguments]\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "print this help and exit")
    ("version", "print the version and exit")
    ("config", po::value(&config_file), "INI file; any long option as `name = value` (lane may repeat)")
    ("eal", po::value(&eal), "EAL arguments, e.g. \"-l 0-2 -a 0000:00:06.0\" (or give them after --)")
    ("read-pcap", po::value(&out.read_pcap), "replay this capture through the dataplane (net_pcap, no hugepages, no NIC), print the JSON summary and exit")
    ("linger-seconds", po::value(&out.linger_seconds)->default_value(d.linger_seconds), "with --read-pcap: keep serving HTTP this long after the replay (SIGTERM ends it early)")
    ("output-dir", po::value(&out.output_dir)->default_value(d.output_dir), "directory for the per-lane capture files")
    ("lane", po::value(&lanes), "a mirror session, repeatable: name=web,vni=42[,snaplen=N][,filter=EXPR][,rotate-mb=N][,rotate-seconds=N][,ring=N][,source=CIDR]")
    ("snaplen", po::value(&out.snaplen)->default_value(d.snaplen), "bytes of each inner frame kept (default for every lane)")
    ("unknown-vni", po::value(&unknown_vni)->default_value("auto"), "auto: a new VNI gets lane vni-<VNI>; drop: counted as unknown_vni")
    ("max-lanes", po::value(&out.max_lanes)->default_value(d.max_lanes), "most lanes at once; VNIs past it are dropped as lane_limit")
    ("allow-source", po::value(&out.allow_sources), "CIDR of allowed outer source addresses, repeatable (default: any)")
    ("vxlan-port", po::value(&ports), "UDP destination port carrying VXLAN, repeatable (default 4789)")
    ("geneve-port", po::value(&geneve_ports), "UDP destination port carrying GENEVE (AWS GWLB), repeatable (default 6081)")
    ("lane-key", po::value(&lane_key)->default_value(lane_key), "vni: a lane per VNI; vni+source: a lane per VNI and tunnel source address (Azure VTAP: one VNI for every VM)")
    ("format", po::value(&format)->default_value("pcap"), "pcap (microseconds), pcap-ns (nanoseconds) or pcapng")
    ("rotate-mb", po::value(&out.rotate_mb)->default_value(d.rotate_mb), "complete a file at this size, MiB (0: no size limit)")
    ("rotate-seconds", po::value(&out.rotate_seconds)->default_value(d.rotate_seconds), "complete a file after this long (0: no time limit)")
    ("ring", po::value(&out.ring)->default_value(d.ring), "keep this many completed files per lane, deleting the oldest (0: keep all)")
    ("post-rotate", po::value(&out.post_rotate), "command run as `CMD FILE` for every completed file, without waiting for it")
    ("min-free-mb", po::value(&out.min_free_mb)->default_value(d.min_free_mb), "keep this much space free on the output file system by deleting the oldest completed files (0: off)")
    ("http-listen", po::value(&out.http_listen)->default_value(d.http_listen), "ADDR:PORT for /metrics and /healthz, or `none`")
    ("exception-path", po::value(&exception_path)->default_value(exception_path), "none, or tap: ARP, ICMP, ICMPv6 and TCP to the --exception-tcp-port ports go to a kernel TAP interface per port (vxc0, vxc1, ...; it takes the port's MAC, give it the port's address), whose answers go out of the port: load balancer health checks then reach /healthz")
    ("exception-tcp-port", po::value(&exception_tcp_ports), "TCP destination port for the exception path, repeatable, at most 4 (default: the --http-listen port)")
    ("drain-seconds", po::value(&out.drain_seconds)->default_value(d.drain_seconds), "on SIGTERM or POST /drain (from the host itself): /healthz answers 503 at once, RX stops and files complete this many seconds later, so a load balancer moves flows away first (a second SIGTERM stops at once)")
    ("rx-lcores", po::value(&out.rx_lcores)->default_value(d.rx_lcores), "lcores polling the ports (one RX queue each, RSS across them)")
    ("workers", po::value(&out.workers)->default_value(d.workers), "lcores owning the lanes (0: the single RX lcore runs them too)")
    ("mtu", po::value(&out.mtu)->default_value(d.mtu), "set the ports' MTU (0: leave as configured)")
    ("mbufs", po::value(&out.mbufs)->default_value(d.mbufs), "packet buffers in the mbuf pool (0: 32767; with --read-pcap 4095, as a replay waits for room instead of dropping)")
    ("mbuf-data-room", po::value(&out.mbuf_data_room)->default_value(d.mbuf_data_room), "frame bytes one packet buffer holds (0: 2048, or --mtu + 26 when larger); net_af_packet's framesz must fit")
    ("write-buffer-mb", po::value(&out.write_buffer_mb)->default_value(d.write_buffer_mb), "write buffer per worker, MiB (0: 64; with --read-pcap 8); when it is full, packets are dropped as writer_busy")
    ("frag-timeout-ms", po::value(&out.frag_timeout_ms)->default_value(d.frag_timeout_ms), "outer IPv4 fragments not reassembled in this time are dropped")
    ("frag-max-flows", po::value(&out.frag_max_flows)->default_value(d.frag_max_flows), "datagrams in reassembly at once, per RX lcore")
    ("log-level", po::value(&out.log_level)->default_value(d.log_level), "trace, debug, info, warn, error, critical, off");
  // clang-format on

  // Everything after a lone "--" goes to the EAL.
  int own_argc = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--") {
      own_argc = i;
      for (int j = i + 1; j < argc; ++j) out.eal_args.emplace_back(argv[j]);
      break;
    }
  }
  po::variables_map vm;
  try {
    const po::parsed_options cli = po::command_line_parser(own_argc, argv).options(desc).run();
    check_unsigned_values(cli);
    po::store(cli, vm);
    if (vm.count("config")) {
      const std::string path = vm["config"].as<std::string>();
      std::ifstream in(path);
      if (!in) throw OptionsError("--config " + path + ": cannot open");
      const po::parsed_options file = po::parse_config_file(in, desc);
      check_unsigned_values(file);
      po::store(file, vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw OptionsError(e.what());
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return false;
  }
  if (vm.count("version")) {
    std::cout << "vxcollector " << VXC_VERSION << "\n";
    return false;
  }

  if (!eal.empty()) {
    std::istringstream words(eal);
    std::vector<std::string> eal_words;
    for (std::string w; words >> w;) eal_words.push_back(w);
    out.eal_args.insert(out.eal_args.begin(), eal_words.begin(), eal_words.end());
  }
  check_snaplen("--snaplen", out.snaplen);
  if (unknown_vni == "auto")
    out.auto_lanes = true;
  else if (unknown_vni == "drop")
    out.auto_lanes = false;
  else
    throw OptionsError("--unknown-vni: '" + unknown_vni + "' is not auto or drop");
  if (format == "pcap")
    out.format = PcapFormat::pcap_usec;
  else if (format == "pcap-ns")
    out.format = PcapFormat::pcap_nsec;
  else if (format == "pcapng")
    out.format = PcapFormat::pcapng;
  else
    throw OptionsError("--format: '" + format + "' is not pcap, pcap-ns or pcapng");
  auto port_list = [](const char* what, const std::vector<uint32_t>& in, std::vector<uint16_t>& to) {
    if (in.empty()) return;
    if (in.size() > 4) throw OptionsError(std::string(what) + ": at most 4 ports");
    to.clear();
    for (uint32_t p : in) {
      if (p == 0 || p > 65535) throw OptionsError(std::string(what) + ": " + std::to_string(p) + " is not a port");
      to.push_back(static_cast<uint16_t>(p));
    }
  };
  port_list("--vxlan-port", ports, out.vxlan_ports);
  port_list("--geneve-port", geneve_ports, out.geneve_ports);
  for (uint16_t g : out.geneve_ports)
    for (uint16_t v : out.vxlan_ports)
      if (g == v) throw OptionsError("port " + std::to_string(g) + " is both --vxlan-port and --geneve-port");
  if (exception_path == "tap")
    out.exception_tap = true;
  else if (exception_path != "none")
    throw OptionsError("--exception-path: '" + exception_path + "' is not none or tap");
  port_list("--exception-tcp-port", exception_tcp_ports, out.exception_tcp_ports);
  if (out.exception_tap && !out.read_pcap.empty())
    throw OptionsError("--exception-path tap: not with --read-pcap (a capture cannot answer)");
  if (lane_key == "vni")
    out.lane_key_source = false;
  else if (lane_key == "vni+source")
    out.lane_key_source = true;
  else
    throw OptionsError("--lane-key: '" + lane_key + "' is not vni or vni+source");
  if (out.max_lanes == 0) throw OptionsError("--max-lanes must be at least 1");
  // A replay back-pressures rather than drops, so deep buffers only cost
  // start-up time (the pool and the blocks are touched when created).
  if (out.mbufs == 0) out.mbufs = out.read_pcap.empty() ? 32767 : 4095;
  if (out.write_buffer_mb == 0) out.write_buffer_mb = out.read_pcap.empty() ? 64 : 8;
  if (out.mbuf_data_room == 0) out.mbuf_data_room = std::max<uint32_t>(2048, out.mtu + 26u);
  if (out.mbuf_data_room < 256 || out.mbuf_data_room > 65000)
    throw OptionsError("--mbuf-data-room must be 256..65000");
  for (const std::string& spec : lanes) out.lanes.push_back(parse_lane(spec));
  for (size_t i = 0; i < out.lanes.size(); ++i)
    for (size_t j = 0; j < i; ++j) {
      if (out.lanes[i].name == out.lanes[j].name)
        throw OptionsError("--lane: two lanes named '" + out.lanes[i].name + "'");
      if (out.lanes[i].vni == out.lanes[j].vni && !out.lane_key_source)
        throw OptionsError("--lane: two lanes for VNI " + std::to_string(out.lanes[i].vni));
    }
  for (const LaneOptions& l : out.lanes)
    if (!l.source.empty() && !out.lane_key_source)
      throw OptionsError("--lane " + l.name + ": source= needs --lane-key vni+source");
  for (const LaneOptions& l : out.lanes)
    if (!l.filter.empty()) check_filter(l.name, l.filter);
  for (const std::string& c : out.allow_sources) {
    try {
      Cidr::parse(c);
    } catch (const std::invalid_argument& e) {
      throw OptionsError(std::string("--allow-source: ") + e.what());
    }
  }
  if (out.output_dir.empty()) throw OptionsError("--output-dir must not be empty");
  return true;
}

}  // namespace vxc
