#include "app.h"

#include "affinity.h"

#include <pcap/pcap.h>
#include <rte_bus_vdev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <cstring>
#include <sstream>
#include <thread>

#include "collector/exposition.h"
#include "collector/http_server.h"
#include "collector/metrics.h"
#include "collector/pcap_file.h"
#include "collector/writer.h"
#include "dataplane/af_packet_stats.h"
#include "dataplane/capture_replay.h"
#include "dataplane/pipeline.h"
#include "dataplane/port.h"

namespace vxc {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
constexpr std::chrono::seconds kDropReportInterval{10};

// Bytes the collector may still write on the filesystem holding `dir`.
uint64_t free_bytes(const std::string& dir) {
  struct statvfs st {};
  if (statvfs(dir.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

// The file system type and super-block options of the mount holding `dir`
// (from /proc/self/mountinfo); empty when unknown.
std::pair<std::string, std::string> mount_of(const std::string& dir) {
  std::error_code ec;
  const std::string path = fs::canonical(dir, ec).string();
  if (ec) return {};
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  std::string best;  // longest mount point above `path`; the last of stacked mounts wins
  std::pair<std::string, std::string> found;
  while (std::getline(in, line)) {
    // ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER-OPTIONS
    std::istringstream f(line);
    std::string id, parent, dev, root, mount, options, field, type, source, super;
    f >> id >> parent >> dev >> root >> mount >> options;
    while (f >> field && field != "-") {
    }
    f >> type >> source >> super;
    const bool above = path == mount || mount == "/" ||
                       (path.rfind(mount, 0) == 0 && path.size() > mount.size() &&
                        path[mount.size()] == '/');
    if (above && mount.size() >= best.size()) {
      best = mount;
      found = {type, super};
    }
  }
  return found;
}

// On tmpfs with 4 KiB pages the kernel's page allocation (each write into a
// new file) takes most of a writer thread's time: on the machine of README
// "Performance", ~1 GB/s per writer at a full core, where huge=within_size or
// a ring whose files are written over wrote 1.2 GB/s at 40-50% of one. Said
// once, at start.
void hint_tmpfs_pages(const std::string& dir) {
  const auto [type, options] = mount_of(dir);
  if (type != "tmpfs") return;
  const bool huge = options.find("huge=") != std::string::npos &&
                    options.find("huge=never") == std::string::npos;
  if (!huge)
    spdlog::info(
        "{} is on tmpfs with 4 KiB pages: at high rates the kernel's page allocation limits each "
        "writer thread (~1 GB/s) unless a ring (--ring) has it write over its oldest files; "
        "mounting it with huge=within_size lets a writer do more",
        dir);
}

// "--lcores" for a replay: lcore i runs on the i-th CPU this process may use,
// wrapping around when there are more roles than CPUs.
std::string replay_lcores(unsigned lcores) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  if (cpus.empty()) cpus.push_back(0);
  std::string map;
  for (unsigned i = 0; i < lcores; ++i) {
    if (i > 0) map += ',';
    map += std::to_string(i) + "@" + std::to_string(cpus[i % cpus.size()]);
  }
  return map;
}

// EAL memory (-m, MiB) for a replay: what the pipeline takes from it plus room
// for the EAL and the PMD. Without hugepages the EAL keeps a record for every
// 4 KiB page of it and walks them at start and at exit: 1 GiB costs ~20 ms.
uint64_t replay_memory_mb(const Options& o) {
  constexpr uint64_t kMiB = 1024 * 1024;
  constexpr uint64_t kPage = 4096;
  // An mbuf: struct rte_mbuf, headroom, the pool's object header. With 4 KiB
  // pages the pool does not let an object cross a page it need not cross, so
  // a 2 KiB mbuf takes a page of its own.
  constexpr uint64_t kMbufOverhead = 128 + 128 + 64;
  constexpr uint64_t kFragFlowBytes = 2 * 1024;  // rte_ip_frag table, per flow
  constexpr uint64_t kEalAndPmdMb = 64;
  const uint64_t mbuf = (o.mbuf_data_room + kMbufOverhead + kPage - 1) / kPage * kPage;
  const uint64_t pool = uint64_t{o.mbufs} * mbuf;
  const uint64_t frags = uint64_t{o.rx_lcores} * o.frag_max_flows * kFragFlowBytes;
  return (pool + frags + kMiB - 1) / kMiB + kEalAndPmdMb;  // write blocks are not EAL memory
}

// `own_reader`: the replay's capture is read by CaptureReplay through a
// net_null port, not by net_pcap.
std::vector<std::string> eal_arguments(const Options& o, bool own_reader) {
  std::vector<std::string> args{"vxcollector"};
  if (!o.read_pcap.empty()) {
    // A replay needs no NIC and no hugepages: the capture as a vdev, and as
    // many lcores as the roles need unless the user chose them.
    bool user_lcores = false;
    bool user_memory = false;
    for (const std::string& a : o.eal_args) {
      user_lcores |= a.rfind("-l", 0) == 0 || a.rfind("-c", 0) == 0 || a.rfind("--lcores", 0) == 0;
      user_memory |= a.rfind("-m", 0) == 0 || a.rfind("--socket-mem", 0) == 0;
    }
    if (!user_lcores) args.insert(args.end(), {"--lcores", replay_lcores(o.rx_lcores + o.workers)});
    if (!user_memory) args.insert(args.end(), {"-m", std::to_string(replay_memory_mb(o))});
    args.insert(args.end(), {"--no-huge", "--no-pci", "--no-shconf", "--no-telemetry",
                             "--file-prefix", "vxc-" + std::to_string(getpid()),
                             "--log-level", "*:warning", "--vdev",
                             own_reader ? "net_null0" : "net_pcap0,rx_pcap=" + o.read_pcap});
  }
  // An AF_PACKET port without a ring size gets one for ~100 ms of feed, with
  // ring frames as large as the mbufs allow (the PMD's own: ~5 ms, 2 KiB).
  bool vdev_value = false;
  for (const std::string& a : o.eal_args) {
    if (vdev_value)
      args.push_back(with_af_packet_ring_defaults(a, o.mbuf_data_room));
    else if (a.rfind("--vdev=", 0) == 0)
      args.push_back("--vdev=" + with_af_packet_ring_defaults(a.substr(7), o.mbuf_data_room));
    else
      args.push_back(a);
    vdev_value = !vdev_value && a == "--vdev";
  }
  return args;
}

// One TAP port per data port for the exception path: vdev net_tap_vxcN with
// kernel interface vxcN.
std::vector<uint16_t> create_exception_taps(size_t count) {
  std::vector<uint16_t> taps;
  for (size_t i = 0; i < count; ++i) {
    const std::string name = "net_tap_vxc" + std::to_string(i);
    const std::string iface = "vxc" + std::to_string(i);
    if (rte_vdev_init(name.c_str(), ("iface=" + iface).c_str()) != 0)
      throw std::runtime_error("--exception-path tap: cannot create TAP interface " + iface +
                               " (needs CAP_NET_ADMIN and /dev/net/tun)");
    uint16_t id = 0;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0)
      throw std::runtime_error("--exception-path tap: no port for " + name);
    taps.push_back(id);
    spdlog::info("exception path: port {} <-> kernel interface {}", i, iface);
  }
  return taps;
}

LaneFileOptions file_options(const Options& o, const LaneSlot& slot) {
  LaneFileOptions f;
  f.snaplen = slot.snaplen;
  f.format = o.format;
  f.rotate_bytes = o.rotate_mb * 1024 * 1024;
  f.rotate_seconds = o.rotate_seconds;
  f.ring_files = o.ring;
  f.post_rotate_command = o.post_rotate;
  if (slot.config_index == LaneSlot::kAutoLane) {
    f.lane_name = auto_lane_name(slot.key);
    return f;
  }
  const LaneOptions& l = o.lanes.at(slot.config_index);
  f.lane_name = l.name;
  if (l.rotate_mb >= 0) f.rotate_bytes = static_cast<uint64_t>(l.rotate_mb) * 1024 * 1024;
  if (l.rotate_seconds >= 0) f.rotate_seconds = static_cast<uint32_t>(l.rotate_seconds);
  if (l.ring >= 0) f.ring_files = static_cast<uint32_t>(l.ring);
  return f;
}

// Cleans the EAL up on every way out of run_collector, after the pipeline.
struct EalSession {
  explicit EalSession(bool private_runtime_dir)
      : runtime_dir(rte_eal_get_runtime_dir()), remove_runtime_dir(private_runtime_dir) {}
  ~EalSession() {
    rte_eal_cleanup();
    // A replay's EAL is private to this process; leave no empty runtime dir behind.
    std::error_code ignored;
    if (remove_runtime_dir) fs::remove(runtime_dir, ignored);
  }
  fs::path runtime_dir;
  bool remove_runtime_dir;
};

// /healthz state, recomputed once a second by the control thread.
class Health {
 public:
  void set(bool ok, std::string reason) {
    std::lock_guard<std::mutex> lock(mutex_);
    ok_ = ok;
    reason_ = std::move(reason);
  }
  HttpResponse response() const {
    std::lock_guard<std::mutex> lock(mutex_);
    HttpResponse r;
    r.status = ok_ ? 200 : 503;
    r.body = (ok_ ? "ok" : reason_) + "\n";
    return r;
  }

 private:
  mutable std::mutex mutex_;
  bool ok_ = false;
  std::string reason_ = "starting";
};

}  // namespace

int run_collector(const Options& o) {
  spdlog::set_level(spdlog::level::from_str(o.log_level));

  // Signals are taken by the control thread with sigtimedwait; every thread,
  // EAL's and civetweb's included, inherits this mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Before rte_eal_init pins this thread to the main lcore's CPU.
  cpu_set_t process_cpus;
  CPU_ZERO(&process_cpus);
  if (sched_getaffinity(0, sizeof(process_cpus), &process_cpus) != 0) CPU_SET(0, &process_cpus);

  // A capture net_pcap cannot open would leave the replay without a port:
  // say libpcap's reason instead.
  if (!o.read_pcap.empty()) {
    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_t* capture = pcap_open_offline(o.read_pcap.c_str(), err);
    if (capture == nullptr) throw std::runtime_error("--read-pcap " + o.read_pcap + ": " + err);
    pcap_close(capture);
  }

  const bool own_reader =
      !o.read_pcap.empty() && CaptureReplay::takes(o.read_pcap, o.rx_lcores);
  std::vector<std::string> args = eal_arguments(o, own_reader);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  spdlog::debug("EAL arguments: {}", fmt::join(args, " "));
  if (rte_eal_init(static_cast<int>(args.size()), argv.data()) < 0) {
    const std::string why = rte_strerror(rte_errno);
    throw std::runtime_error("EAL init failed: " + why);
  }
  const EalSession eal(!o.read_pcap.empty());
  // Outlives the pipeline, whose port calls it.
  std::optional<CaptureReplay> replay;
  if (own_reader) replay.emplace(o.read_pcap, o.workers != 0);

  int exit_code = 0;
  {
    PipelineConfig pc;
    pc.parse.vxlan_port_count = static_cast<uint8_t>(o.vxlan_ports.size());
    for (size_t i = 0; i < o.vxlan_ports.size(); ++i) pc.parse.vxlan_ports[i] = o.vxlan_ports[i];
    pc.parse.geneve_port_count = static_cast<uint8_t>(o.geneve_ports.size());
    for (size_t i = 0; i < o.geneve_ports.size(); ++i) pc.parse.geneve_ports[i] = o.geneve_ports[i];
    pc.lane_key = o.lane_key_source ? LaneKeyMode::vni_source : LaneKeyMode::vni;
    if (o.exception_tap) {
      pc.parse.exception_path = true;
      std::vector<uint16_t> tcp = o.exception_tcp_ports;
      if (tcp.empty() && o.http_listen != "none")
        tcp.push_back(static_cast<uint16_t>(std::stoul(o.http_listen.substr(o.http_listen.rfind(':') + 1))));
      pc.parse.exception_tcp_port_count = static_cast<uint8_t>(tcp.size());
      for (size_t i = 0; i < tcp.size(); ++i) pc.parse.exception_tcp_ports[i] = tcp[i];
    }
    for (const std::string& c : o.allow_sources) {
      try {
        pc.allow_sources.push_back(Cidr::parse(c));
      } catch (const std::invalid_argument& e) {
        throw std::runtime_error(std::string("--allow-source: ") + e.what());
      }
    }
    pc.auto_lanes = o.auto_lanes;
    pc.max_lanes = o.max_lanes;
    pc.default_snaplen = o.snaplen;
    pc.format = o.format;
    pc.rx_lcores = o.rx_lcores;
    pc.workers = o.workers;
    pc.mtu = o.mtu;
    pc.mbufs = o.mbufs;
    pc.mbuf_data_room = o.mbuf_data_room;
    pc.write_buffer_mb = o.write_buffer_mb;
    pc.frag_timeout_ms = o.frag_timeout_ms;
    pc.frag_max_flows = o.frag_max_flows;
    pc.backpressure = !o.read_pcap.empty();
    pc.file_sources = !o.read_pcap.empty();
    pc.leave_memory_to_eal = true;  // run_collector returns into rte_eal_cleanup (EalSession)
    uint16_t port;
    RTE_ETH_FOREACH_DEV(port) pc.ports.push_back(port);
    uint16_t replay_port = RTE_MAX_ETHPORTS;
    if (replay && rte_eth_dev_get_port_by_name("net_null0", &replay_port) != 0)
      throw std::runtime_error("--read-pcap: no net_null0 port");
    for (uint16_t p : pc.ports) pc.port_feeds.push_back(p == replay_port ? &replay->feed() : nullptr);
    if (o.exception_tap) pc.exception_ports = create_exception_taps(pc.ports.size());

    std::vector<ExplicitLane> lanes;
    std::vector<std::string> lane_names;
    for (const LaneOptions& l : o.lanes) {
      lanes.push_back({l.vni, l.snaplen != 0 ? l.snaplen : o.snaplen, l.filter,
                       l.source.empty() ? std::nullopt : std::optional(Cidr::parse(l.source))});
      lane_names.push_back(l.name);
    }

    fs::create_directories(o.output_dir);
    hint_tmpfs_pages(o.output_dir);
    Pipeline pipeline(pc, lanes);
    if (replay) replay->attach(replay_port);
    for (size_t p = 0; p < pc.ports.size(); ++p)
      spdlog::info("port {} ({}): {} RX queue(s), frame times from {}", pc.ports[p],
                   port_name(pc.ports[p]), pc.rx_lcores, pipeline.port_time_source(p));

    CompletedFiles completed(o.output_dir, o.min_free_mb * 1024 * 1024);
    std::atomic<uint64_t> rotate_requests{0};
    std::vector<std::unique_ptr<Writer>> writers;
    std::vector<const Writer*> writer_views;

    Health health;
    // Written once the writers exist; HTTP handlers answer 503 until then.
    std::atomic<bool> serving{false};
    std::atomic<bool> drain_requested{false};  // POST /drain
    std::atomic<bool> draining{false};
    auto totals = [&] { return collect_totals(pipeline, writer_views, lane_names); };
    bool af_packet_ports = false;  // their sockets leave outer IPv4 reassembly to the kernel
    for (uint16_t p : pc.ports) af_packet_ports |= port_name(p).rfind("net_af_packet", 0) == 0;
    auto control_state = [&] {
      ControlState c;
      c.files_deleted_for_space = completed.files_deleted_for_space();
      c.post_rotate_failures = completed.post_rotate_failures();
      c.output_free_bytes = free_bytes(o.output_dir);
      c.output_min_free_bytes = o.min_free_mb * 1024 * 1024;
      c.draining = draining.load();
      c.kernel_reassembly = af_packet_ports;
      if (c.kernel_reassembly)
        std::tie(c.kernel_reassembly_failures, c.kernel_reassembly_fragments) = kernel_reassembly_counts();
      return c;
    };
    // Threads started from here on stay off the lcores' CPUs.
    std::optional<NonLcoreAffinity> off_lcores(std::in_place, process_cpus);
    std::unique_ptr<HttpServer> http;
    if (o.http_listen != "none") {
      HttpRoutes routes;
      routes.get["/metrics"] = [&] {
        HttpResponse r;
        if (!serving.load(std::memory_order_acquire)) return HttpResponse{503, r.content_type, "starting\n"};
        r.content_type = std::string(Exposition::kContentType);
        r.body = render_metrics(totals(), control_state());
        return r;
      };
      routes.get["/healthz"] = [&] { return health.response(); };
      routes.post["/drain"] = [&] {
        drain_requested.store(true);
        return HttpResponse{202, "text/plain; charset=utf-8",
                            "draining: RX stops in " + std::to_string(o.drain_seconds) + " s\n"};
      };
      routes.loopback_only.insert("/drain");
      http = std::make_unique<HttpServer>(o.http_listen, std::move(routes));
      // civetweb sets SIGCHLD to SIG_IGN (for CGI, unused here); post-rotate
      // commands need their exit status, so take the default back.
      signal(SIGCHLD, SIG_DFL);
      spdlog::info("metrics and health on {} (port {})", o.http_listen, http->port());
    }

    // Writers start last: once they run, only the dataplane's stop ends them.
    for (uint16_t w = 0; w < pipeline.worker_count(); ++w) {
      writers.push_back(std::make_unique<Writer>(
          pipeline, w, o.output_dir, [&o](const LaneSlot& s) { return file_options(o, s); },
          completed, rotate_requests));
      writer_views.push_back(writers.back().get());
    }
    serving.store(true, std::memory_order_release);

    // Control thread: signals, replay completion, health. The dataplane runs
    // on this (the main) thread.
    std::atomic<bool> control_exit{false};
    bool replay_incomplete = false;
    std::thread control([&] {
      const auto start = Clock::now();
      bool replay_done = o.read_pcap.empty();
      auto linger_until = Clock::time_point::max();
      uint64_t last_progress = UINT64_MAX;
      auto last_progress_at = Clock::now();
      std::vector<uint64_t> last_loops(pipeline.lcore_count() + writers.size(), 0);
      auto next_health = Clock::now();
      auto next_drop_report = Clock::now() + kDropReportInterval;
      std::array<uint64_t, kDropReasonCount> last_drops{};
      bool stopping = false;
      auto drain_until = Clock::time_point::max();
      auto stop = [&](const char* why) {
        spdlog::info("{}: stopping RX, emptying rings, completing files", why);
        stopping = true;
        pipeline.request_stop();
      };
      while (!control_exit.load()) {
        // A replay's end and a stop are noticed within 5 ms: every replay waits for them.
        const long tick_ns = !replay_done || stopping ? 5'000'000 : 100'000'000;
        timespec wait{0, tick_ns};
        const int sig = sigtimedwait(&signals, nullptr, &wait);
        const auto now = Clock::now();
        const bool http_drain = drain_requested.exchange(false);
        if ((sig == SIGTERM || sig == SIGINT || http_drain) && !stopping) {
          const char* why = http_drain ? "POST /drain" : strsignal(sig);
          if (draining.load() && !http_drain) {
            stop(why);  // a second signal while draining: stop now
          } else if (!draining.load()) {
            draining.store(true);
            next_health = now;  // /healthz says 503 before anything else happens
            if (o.drain_seconds == 0) {
              stop(why);
            } else {
              drain_until = now + std::chrono::seconds(o.drain_seconds);
              spdlog::info("{}: draining, /healthz answers 503, RX stops in {} s", why,
                           o.drain_seconds);
            }
          }
        } else if (sig == SIGHUP) {
          spdlog::info("SIGHUP: completing every lane's file");
          rotate_requests.fetch_add(1);
        }
        if (draining.load() && !stopping && now >= drain_until) stop("drain over");
        if (!replay_done) {
          const bool ended = pipeline.sources_ended();  // first: the counts are final once it is
          uint64_t read = 0, unreadable = 0, nombuf = 0;
          for (size_t p = 0; p < pc.ports.size(); ++p) {
            const PortStats s = pipeline.port_stats(p);
            read += s.nic_rx_packets;
            unreadable += s.errors;
            nombuf += s.nombuf;
          }
          const uint64_t seen = read + unreadable + nombuf;
          if (ended) {
            replay_done = true;
            std::string odd;
            if (unreadable != 0 && replay)
              odd += fmt::format("; reading stopped at a record vxcollector could not read ({}: "
                                 "nothing after it is read)", replay->stop_reason());
            else if (unreadable != 0)
              odd += fmt::format("; reading stopped at {} record(s) libpcap could not read (a cut "
                                 "or corrupt record: nothing after it is read)", unreadable);
            if (nombuf != 0) odd += fmt::format("; {} frame(s) lost for want of an mbuf", nombuf);
            if (odd.empty())
              spdlog::info("--read-pcap: the capture has ended: {} frames read", read);
            else
              spdlog::warn("--read-pcap: the capture has ended: {} frames read{}", read, odd);
            linger_until = now + std::chrono::seconds(o.linger_seconds);
          } else if (seen != last_progress) {
            last_progress = seen;
            last_progress_at = now;
          } else if (now - last_progress_at > std::chrono::seconds(10)) {
            spdlog::error("--read-pcap: stuck at {} frames, the capture has not ended", seen);
            replay_incomplete = true;
            replay_done = true;
            linger_until = now;
          }
        }
        if (replay_done && !o.read_pcap.empty() && !stopping && now >= linger_until) {
          stopping = true;
          pipeline.request_stop();
        }
        if (now >= next_drop_report) {
          // Data-path drops are counted per lcore; they are reported here, at
          // most once per interval, never logged by the dataplane itself.
          next_drop_report = now + kDropReportInterval;
          const Totals t = totals();
          std::string changes;
          for (size_t r = 0; r < kDropReasonCount; ++r) {
            if (t.drops[r] != last_drops[r])
              changes += fmt::format(" {}=+{}", kDropReasonNames[r], t.drops[r] - last_drops[r]);
            last_drops[r] = t.drops[r];
          }
          if (!changes.empty()) spdlog::warn("drops in the last {} s:{}", kDropReportInterval.count(), changes);
        }
        if (now >= next_health) {
          next_health = now + std::chrono::seconds(1);
          std::string reason;
          for (size_t p = 0; p < pc.ports.size(); ++p)
            if (!pipeline.port_stats(p).link_up)
              reason = "port " + std::to_string(pc.ports[p]) + " link down";
          for (size_t i = 0; i < last_loops.size(); ++i) {
            const bool lcore = i < pipeline.lcore_count();
            const uint64_t loops = lcore ? pipeline.lcore_counters(i).loops.get()
                                         : writers[i - pipeline.lcore_count()]->loops();
            if (loops == last_loops[i] && now - start > std::chrono::seconds(1) && reason.empty())
              reason = (lcore ? "dataplane lcore role " : "writer ") + std::to_string(i) +
                       " made no progress for 1 s";
            last_loops[i] = loops;
          }
          for (const auto& w : writers)
            if (w->last_error() != 0 && reason.empty())
              reason = std::string("writing capture files fails: ") + std::strerror(w->last_error());
          if (draining.load()) reason = "draining";
          if (stopping) reason = "stopping";
          health.set(reason.empty(), reason);
        }
      }
    });

    pthread_setname_np(control.native_handle(), "vxc-control");
    off_lcores.reset();  // the dataplane runs on this thread, on its lcore
    pipeline.run();  // returns once stopped and drained
    if (replay) replay->detach();
    for (auto& w : writers) w->join();
    control_exit.store(true);
    control.join();
    http.reset();

    const Totals t = totals();
    std::printf("%s\n", render_summary_json(t).c_str());
    std::fflush(stdout);
    uint64_t accounted = t.written + t.filtered + t.exception + t.fragments_merged + t.drops_total +
                         t.buffered;
    if (accounted != t.received) {
      spdlog::critical("accounting mismatch: received {} but accounted for {}", t.received,
                       accounted);
      exit_code = 3;
    }
    if (replay_incomplete) exit_code = 1;
  }
  return exit_code;
}

}  // namespace vxc
