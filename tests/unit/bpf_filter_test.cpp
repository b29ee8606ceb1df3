// BpfFilter over real mbufs. The EAL runs once for the binary (no hugepages,
// no PCI, one lcore); frames are built byte by byte below. Every verdict is
// also checked against libpcap's own interpreter (pcap_offline_filter) over
// the same bytes, against DPDK's eBPF interpreter on the same loaded program
// and against the worker's classic BPF interpreter (matches_interpreted): the
// JIT and both interpreters are judged by libpcap.
#include "bpf_filter.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <rte_bpf.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <sstream>
#include <string>
#include <vector>

namespace vxc {

// Runs the filter's program through DPDK's interpreter, never the JIT.
struct BpfFilterTestPeer {
  static void Interpret(const BpfFilter& filter, rte_mbuf* const* pkts, uint32_t n, uint64_t* rc) {
    std::vector<void*> ctx(pkts, pkts + n);
    ASSERT_EQ(rte_bpf_exec_burst(filter.bpf_, ctx.data(), rc, n), n);
  }
};

namespace {

rte_mempool* g_pool = nullptr;

class EalEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const std::string prefix = "bpf_test_" + std::to_string(getpid());
    // clang-format off
    args_ = {"bpf_filter_test",
             "--no-huge", "--no-pci", "-l", "0", "-m", "128",
             "--file-prefix", prefix,
             "--no-shconf", "--no-telemetry",  // leave no files behind
             "--log-level", "error"};
    // clang-format on
    for (auto& a : args_) argv_.push_back(a.data());
    ASSERT_GE(rte_eal_init(static_cast<int>(argv_.size()), argv_.data()), 0)
        << "rte_eal_init: " << rte_strerror(rte_errno);
    runtime_dir_ = rte_eal_get_runtime_dir();
    g_pool = rte_pktmbuf_pool_create("bpf_test_pool", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                     SOCKET_ID_ANY);
    ASSERT_NE(g_pool, nullptr) << rte_strerror(rte_errno);
  }
  void TearDown() override {
    rte_mempool_free(g_pool);
    g_pool = nullptr;
    rte_eal_cleanup();
    rmdir(runtime_dir_.c_str());  // empty with --no-shconf; don't litter /var/run/dpdk
  }

 private:
  std::vector<std::string> args_;
  std::vector<char*> argv_;
  std::string runtime_dir_;
};

[[maybe_unused]] const auto* const kEal = ::testing::AddGlobalTestEnvironment(new EalEnvironment);

// ---- frame builder --------------------------------------------------------

constexpr uint8_t kIcmp = 1, kTcp = 6, kUdp = 17, kIcmp6 = 58;
constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;

struct FrameSpec {
  bool ipv6 = false;
  std::optional<uint16_t> vlan;  // 802.1Q tag with this VID
  uint8_t proto = kTcp;
  std::string src = "192.0.2.1";
  std::string dst = "192.0.2.2";
  uint16_t sport = 40000;
  uint16_t dport = 443;
  uint8_t tcp_flags = kAck;
  size_t payload = 0;
  uint8_t ttl = 64;
  uint8_t ip_options = 0;  // IPv4 option words (NOPs): IHL = 5 + this
};

using Bytes = std::vector<uint8_t>;

void Put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void Put32(Bytes& b, uint32_t v) {
  Put16(b, static_cast<uint16_t>(v >> 16));
  Put16(b, static_cast<uint16_t>(v));
}
void PutAddress(Bytes& b, const std::string& text, bool ipv6) {
  uint8_t addr[16];
  if (inet_pton(ipv6 ? AF_INET6 : AF_INET, text.c_str(), addr) != 1) {
    throw std::invalid_argument("bad address " + text);
  }
  b.insert(b.end(), addr, addr + (ipv6 ? 16 : 4));
}

// L4 header plus `payload` bytes of a counting pattern.
Bytes BuildL4(const FrameSpec& f) {
  Bytes l4;
  if (f.proto == kTcp) {
    Put16(l4, f.sport);
    Put16(l4, f.dport);
    Put32(l4, 1000);       // seq
    Put32(l4, 2000);       // ack
    l4.push_back(5 << 4);  // data offset: 5 words
    l4.push_back(f.tcp_flags);
    Put16(l4, 65535);  // window
    Put32(l4, 0);      // checksum, urgent pointer
  } else if (f.proto == kUdp) {
    Put16(l4, f.sport);
    Put16(l4, f.dport);
    Put16(l4, static_cast<uint16_t>(8 + f.payload));
    Put16(l4, 0);
  } else if (f.proto == kIcmp || f.proto == kIcmp6) {
    l4.push_back(f.proto == kIcmp ? 8 : 128);  // echo request
    l4.push_back(0);
    Put16(l4, 0);
    Put32(l4, 0x12340001);  // identifier, sequence
  }
  for (size_t i = 0; i < f.payload; ++i) l4.push_back(static_cast<uint8_t>(i));
  return l4;
}

Bytes BuildFrame(const FrameSpec& f) {
  Bytes b = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};  // dst, src MAC
  if (f.vlan) {
    Put16(b, 0x8100);
    Put16(b, *f.vlan);
  }
  const Bytes l4 = BuildL4(f);
  if (f.ipv6) {
    Put16(b, 0x86dd);
    Put32(b, 0x60000000);  // version 6, no traffic class or flow label
    Put16(b, static_cast<uint16_t>(l4.size()));
    b.push_back(f.proto);
    b.push_back(f.ttl);  // hop limit
    PutAddress(b, f.src, true);
    PutAddress(b, f.dst, true);
  } else {
    Put16(b, 0x0800);
    const size_t ip = b.size();
    const size_t ip_len = 20 + 4 * f.ip_options;
    b.push_back(static_cast<uint8_t>(0x40 | (ip_len / 4)));
    b.push_back(0);
    Put16(b, static_cast<uint16_t>(ip_len + l4.size()));
    Put32(b, 0x00014000);  // id 1, DF
    b.push_back(f.ttl);
    b.push_back(f.proto);
    Put16(b, 0);
    PutAddress(b, f.src, false);
    PutAddress(b, f.dst, false);
    b.insert(b.end(), 4 * f.ip_options, 0x01);  // NOP
    uint32_t sum = 0;
    for (size_t i = ip; i < ip + ip_len; i += 2) sum += (b[i] << 8) | b[i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    b[ip + 10] = static_cast<uint8_t>(~sum >> 8);
    b[ip + 11] = static_cast<uint8_t>(~sum);
  }
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

// ---- mbufs ----------------------------------------------------------------

struct MbufFree {
  void operator()(rte_mbuf* m) const { rte_pktmbuf_free(m); }
};
using MbufPtr = std::unique_ptr<rte_mbuf, MbufFree>;

// One mbuf chain holding `bytes`, cut into segments at the `splits` offsets.
MbufPtr MakeMbuf(const Bytes& bytes, std::vector<size_t> splits = {}) {
  splits.push_back(bytes.size());
  MbufPtr head;
  size_t start = 0;
  for (size_t end : splits) {
    rte_mbuf* seg = rte_pktmbuf_alloc(g_pool);
    if (seg == nullptr) throw std::runtime_error("mbuf pool empty");
    const size_t len = end - start;
    char* data = rte_pktmbuf_append(seg, static_cast<uint16_t>(len));
    if (data == nullptr) throw std::runtime_error("segment too long");
    if (len > 0) std::memcpy(data, bytes.data() + start, len);
    if (!head) {
      head.reset(seg);
    } else if (rte_pktmbuf_chain(head.get(), seg) != 0) {
      rte_pktmbuf_free(seg);
      throw std::runtime_error("rte_pktmbuf_chain failed");
    }
    start = end;
  }
  return head;
}

// ---- judges ---------------------------------------------------------------

// The same expression compiled by libpcap and run by libpcap's own cBPF
// interpreter over plain bytes: the judge that shares no code with DPDK.
class Libpcap {
 public:
  explicit Libpcap(const std::string& expression) {
    pcap_t* pcap = pcap_open_dead(DLT_EN10MB, 65535);
    const int rc = pcap_compile(pcap, &cbpf_, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN);
    const std::string error = pcap_geterr(pcap);
    pcap_close(pcap);
    if (rc != 0) throw std::runtime_error(error);
  }
  ~Libpcap() { pcap_freecode(&cbpf_); }
  Libpcap(const Libpcap&) = delete;
  Libpcap& operator=(const Libpcap&) = delete;

  bool Matches(const Bytes& frame) const {
    pcap_pkthdr hdr{};
    hdr.caplen = hdr.len = static_cast<bpf_u_int32>(frame.size());
    return pcap_offline_filter(&cbpf_, &hdr, frame.data()) != 0;
  }

 private:
  bpf_program cbpf_{};
};

uint64_t RunOne(const BpfFilter& filter, rte_mbuf* m) {
  uint64_t rc = 0xdeadbeef;
  filter.run(&m, 1, &rc);
  return rc;
}

uint64_t InterpretOne(const BpfFilter& filter, rte_mbuf* m) {
  uint64_t rc = 0xdeadbeef;
  BpfFilterTestPeer::Interpret(filter, &m, 1, &rc);
  return rc;
}

// ---- tests ----------------------------------------------------------------

FrameSpec Tcp(uint16_t dport) { return FrameSpec{.dport = dport}; }

struct Case {
  const char* name;
  const char* expression;
  FrameSpec frame;
  bool match;
};

// clang-format off
const Case kCases[] = {
  {"443 dst",            "tcp port 443", Tcp(443), true},
  {"443 src",            "tcp port 443", {.sport = 443, .dport = 51000}, true},
  {"80",                 "tcp port 443", Tcp(80), false},
  {"udp 443",            "tcp port 443", {.proto = kUdp}, false},
  {"ipv6 443",           "tcp port 443", {.ipv6 = true, .src = "2001:db8::1", .dst = "2001:db8::2"}, true},
  {"tagged 443",         "tcp port 443", {.vlan = 100}, false},  // tcpdump needs 'vlan' first
  {"src 10.0.0.1",       "host 10.0.0.1", {.src = "10.0.0.1", .dst = "10.0.0.9"}, true},
  {"dst 10.0.0.1",       "host 10.0.0.1", {.src = "10.0.0.9", .dst = "10.0.0.1"}, true},
  {"neither",            "host 10.0.0.1", {.src = "10.0.0.2", .dst = "10.0.0.3"}, false},
  {"udp dst 10.0.0.1",   "host 10.0.0.1", {.proto = kUdp, .dst = "10.0.0.1"}, true},
  {"ipv6",               "host 10.0.0.1", {.ipv6 = true, .src = "::ffff:10.0.0.1", .dst = "2001:db8::2"}, false},
  {"tagged tcp",         "vlan and tcp", {.vlan = 100}, true},
  {"tagged ipv6 tcp",    "vlan and tcp", {.ipv6 = true, .vlan = 7, .src = "2001:db8::1", .dst = "2001:db8::2"}, true},
  {"untagged tcp",       "vlan and tcp", Tcp(443), false},
  {"tagged udp",         "vlan and tcp", {.vlan = 100, .proto = kUdp}, false},
  {"ipv6 tcp",           "ip6", {.ipv6 = true, .src = "2001:db8::1", .dst = "2001:db8::2"}, true},
  {"ipv6 udp",           "ip6", {.ipv6 = true, .proto = kUdp, .src = "2001:db8::1", .dst = "2001:db8::2"}, true},
  {"ipv4",               "ip6", Tcp(443), false},
  {"rst",                "tcp[tcpflags] & tcp-rst != 0", {.tcp_flags = kRst}, true},
  {"rst ack",            "tcp[tcpflags] & tcp-rst != 0", {.tcp_flags = kRst | kAck}, true},
  {"ack",                "tcp[tcpflags] & tcp-rst != 0", {.tcp_flags = kAck}, false},
  {"syn fin",            "tcp[tcpflags] & tcp-rst != 0", {.tcp_flags = kSyn | kFin}, false},
  {"echo",               "icmp", {.proto = kIcmp}, true},
  {"tcp",                "icmp", Tcp(443), false},
  {"icmpv6",             "icmp", {.ipv6 = true, .proto = kIcmp6, .src = "2001:db8::1", .dst = "2001:db8::2"}, false},
  {"long udp",           "udp and greater 100", {.proto = kUdp, .payload = 100}, true},
  {"short udp",          "udp and greater 100", {.proto = kUdp, .payload = 10}, false},
  // Indirect loads ([x + k], x = IPv4 header length) of each size.
  {"443, ip options",    "tcp port 443", {.ip_options = 3}, true},
  {"rst, ip options",    "tcp[tcpflags] & tcp-rst != 0", {.tcp_flags = kRst, .ip_options = 10}, true},
  {"ack, ip options",    "tcp[tcpflags] & tcp-rst != 0", {.tcp_flags = kAck, .ip_options = 10}, false},
  {"byte",               "tcp[13] = 0x14", {.tcp_flags = kRst | kAck, .ip_options = 1}, true},
  {"half word",          "tcp[12:2] = 0x5014", {.tcp_flags = kRst | kAck, .ip_options = 1}, true},
  {"word",               "tcp[4:4] = 1000", {.ip_options = 2}, true},
  {"other word",         "tcp[4:4] = 1001", {.ip_options = 2}, false},
  {"udp word",           "udp[0:4] = 0x9c4001bb", {.proto = kUdp}, true},
};
// clang-format on

TEST(BpfFilter, MatchesTheTable) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(std::string(c.name) + " / " + c.expression);
    const BpfFilter filter(c.expression);
    const Bytes frame = BuildFrame(c.frame);
    MbufPtr m = MakeMbuf(frame);

    EXPECT_EQ(RunOne(filter, m.get()) != 0, c.match);
    EXPECT_EQ(InterpretOne(filter, m.get()) != 0, c.match);
    EXPECT_EQ(filter.matches_interpreted(m.get()), c.match);
    EXPECT_EQ(Libpcap(c.expression).Matches(frame), c.match);  // the table agrees with libpcap
  }
}

TEST(BpfFilter, ReturnsSnapLengthOnMatchAndZeroOnMiss) {
  const BpfFilter filter("tcp port 443");
  EXPECT_EQ(filter.expression(), "tcp port 443");
  MbufPtr hit = MakeMbuf(BuildFrame(Tcp(443)));
  MbufPtr miss = MakeMbuf(BuildFrame(Tcp(80)));
  rte_mbuf* pkts[] = {hit.get(), miss.get(), hit.get()};
  uint64_t rc[3] = {7, 7, 7};
  filter.run(pkts, 3, rc);
  EXPECT_EQ(rc[0], 65535u);
  EXPECT_EQ(rc[1], 0u);
  EXPECT_EQ(rc[2], 65535u);
  filter.run(pkts, 0, rc);  // empty burst touches nothing
  EXPECT_EQ(rc[0], 65535u);
}

TEST(BpfFilter, EmptyExpressionMatchesEverything) {
  const BpfFilter filter("");
  MbufPtr m = MakeMbuf(BuildFrame({.proto = kUdp}));
  EXPECT_NE(RunOne(filter, m.get()), 0u);
}

// A frame cut after 30 bytes (Ethernet + 16 bytes of IPv4): the TCP ports lie
// beyond the data, though the stale bytes of the full frame are still in the
// mbuf's buffer right after it. The filter must not read them.
TEST(BpfFilter, FrameCutShortNeverMatchesStaleBytes) {
  const BpfFilter port("tcp port 443");
  const BpfFilter ip("ip");
  const Bytes full = BuildFrame(Tcp(443));

  MbufPtr m = MakeMbuf(full);
  ASSERT_NE(RunOne(port, m.get()), 0u);  // sanity: the whole frame matches
  ASSERT_EQ(rte_pktmbuf_trim(m.get(), static_cast<uint16_t>(full.size() - 30)), 0);
  ASSERT_EQ(rte_pktmbuf_pkt_len(m.get()), 30u);
  ASSERT_EQ(std::memcmp(rte_pktmbuf_mtod(m.get(), uint8_t*) + 36, &full[36], 2), 0);

  EXPECT_EQ(RunOne(port, m.get()), 0u);
  EXPECT_NE(RunOne(ip, m.get()), 0u);  // what is there is still read

  EXPECT_EQ(InterpretOne(port, m.get()), 0u);
  EXPECT_FALSE(port.matches_interpreted(m.get()));
  EXPECT_TRUE(ip.matches_interpreted(m.get()));
  EXPECT_FALSE(Libpcap("tcp port 443").Matches(Bytes(full.begin(), full.begin() + 30)));

  MbufPtr empty = MakeMbuf({});
  EXPECT_EQ(RunOne(ip, empty.get()), 0u);
  EXPECT_EQ(RunOne(port, empty.get()), 0u);
}

// The TCP ports start at byte 34 of an untagged IPv4 frame: split the frame
// before, inside and after them, and into many small segments.
TEST(BpfFilter, FollowsChainedSegments) {
  const BpfFilter filter("tcp dst port 443");
  const Bytes hit = BuildFrame({.dport = 443, .payload = 40});
  const Bytes miss = BuildFrame({.dport = 444, .payload = 40});
  const std::vector<std::vector<size_t>> layouts = {
      {34}, {36}, {37}, {14, 34}, {20, 37, 50}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 35, 36, 37},
  };
  for (const auto& splits : layouts) {
    SCOPED_TRACE("first split at " + std::to_string(splits[0]) + ", " +
                 std::to_string(splits.size() + 1) + " segments");
    MbufPtr m_hit = MakeMbuf(hit, splits);
    MbufPtr m_miss = MakeMbuf(miss, splits);
    ASSERT_EQ(m_hit->nb_segs, splits.size() + 1);
    ASSERT_EQ(rte_pktmbuf_pkt_len(m_hit.get()), hit.size());
    ASSERT_LE(rte_pktmbuf_data_len(m_hit.get()), 37u);  // port not (wholly) in segment 1

    EXPECT_NE(RunOne(filter, m_hit.get()), 0u);
    EXPECT_EQ(RunOne(filter, m_miss.get()), 0u);
    EXPECT_NE(InterpretOne(filter, m_hit.get()), 0u);
    EXPECT_EQ(InterpretOne(filter, m_miss.get()), 0u);
    EXPECT_TRUE(filter.matches_interpreted(m_hit.get()));  // a chain takes the JIT's code
    EXPECT_FALSE(filter.matches_interpreted(m_miss.get()));
  }
}

TEST(BpfFilter, BadExpressionThrowsLibpcapsMessage) {
  for (const char* bad : {"tcp port 99999", "tcp prot 443", "host 300.1.1.1", "vlan and"}) {
    SCOPED_TRACE(bad);
    std::string libpcap_says;
    try {
      Libpcap libpcap(bad);
    } catch (const std::runtime_error& e) {
      libpcap_says = e.what();
    }
    ASSERT_FALSE(libpcap_says.empty());
    try {
      BpfFilter filter(bad);
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(libpcap_says), std::string::npos) << what;
      EXPECT_NE(what.find(bad), std::string::npos) << what;
    }
  }
  EXPECT_THROW(
      {
        try {
          BpfFilter("tcp port 99999");
        } catch (const std::runtime_error& e) {
          EXPECT_NE(std::string(e.what()).find("illegal port number 99999 > 65535"),
                    std::string::npos)
              << e.what();
          throw;
        }
      },
      std::runtime_error);
}

// Anonymous mappings other than read-write ones: the JIT's code (r-x) and the
// loaded program (r--). Read-write neighbours are left out: the kernel merges
// and splits them as they come and go, and ASan keeps freed large blocks mapped
// (its quarantine), so their count says nothing about what a filter releases.
size_t MappingCount() {
  std::ifstream maps("/proc/self/maps");
  size_t n = 0;
  for (std::string line; std::getline(maps, line);) {
    std::istringstream fields(line);
    std::string range, perms, offset, device, inode, path;
    fields >> range >> perms >> offset >> device >> inode >> path;
    if (path.empty() && perms != "rw-p") ++n;
  }
  return n;
}

size_t RteHeapBytes() {
  rte_malloc_socket_stats stats{};
  EXPECT_EQ(rte_malloc_get_socket_stats(static_cast<int>(rte_socket_id()), &stats), 0);
  return stats.heap_allocsz_bytes;
}

// The converted program (rte_malloc) and the loaded one with its JIT code
// (mmap) are released: building and dropping filters leaves no trace.
TEST(BpfFilter, ReleasesWhatItAllocates) {
  { const BpfFilter warm_up("tcp port 443"); }
  const size_t heap = RteHeapBytes();
  const size_t mappings = MappingCount();
  for (int i = 0; i < 200; ++i) {
    const BpfFilter filter("tcp[tcpflags] & tcp-rst != 0 or host 10.0.0." + std::to_string(i));
    EXPECT_THROW(BpfFilter("tcp port " + std::to_string(70000 + i)), std::runtime_error);
  }
  EXPECT_EQ(RteHeapBytes(), heap);
  EXPECT_EQ(MappingCount(), mappings);
}

TEST(BpfFilter, JitIsUsedWhereDpdkHasOne) {
  const BpfFilter filter("tcp port 443");
  RecordProperty("jit", filter.jit() ? "yes" : "no");
  std::printf("DPDK BPF JIT on this machine: %s\n", filter.jit() ? "yes" : "no");
#if defined(__x86_64__) || defined(__aarch64__)
  EXPECT_TRUE(filter.jit());  // DPDK ships a JIT for both
#endif
}

// Random frames, mostly well-formed with fields drawn from small pools so that
// every expression both matches and misses; some cut short, some chained,
// some plain noise. BpfFilter::run (the JIT here), DPDK's interpreter, the
// classic BPF interpreter and libpcap's must agree on every one.
TEST(BpfFilter, JitInterpreterAndLibpcapAgreeOnRandomFrames) {
  std::mt19937 rng(20240611);
  auto pick = [&](auto&& pool) { return pool[rng() % std::size(pool)]; };
  const char* v4[] = {"10.0.0.1", "10.0.0.2", "10.1.2.3", "192.0.2.1"};
  const char* v6[] = {"2001:db8::1", "2001:db8::2", "fe80::1"};
  const uint16_t ports[] = {53, 80, 443, 8080, 40000};
  const uint8_t protos[] = {kTcp, kTcp, kUdp, kIcmp, 47 /* GRE: no L4 header built */};

  struct Sample {
    Bytes bytes;
    MbufPtr mbuf;
  };
  std::vector<Sample> samples;
  for (int i = 0; i < 400; ++i) {
    Bytes bytes;
    std::vector<size_t> splits;
    if (rng() % 10 == 0) {
      bytes.resize(rng() % 120);
      for (auto& b : bytes) b = static_cast<uint8_t>(rng());
      if (bytes.size() >= 14 && rng() % 2) {
        bytes[12] = 0x08;  // noise behind a plausible EtherType
        bytes[13] = 0x00;
      }
    } else {
      FrameSpec f;
      f.ipv6 = rng() % 3 == 0;
      if (rng() % 4 == 0) f.vlan = static_cast<uint16_t>(rng() % 4096);
      f.proto = pick(protos);
      if (f.ipv6 && f.proto == kIcmp) f.proto = kIcmp6;
      f.src = f.ipv6 ? pick(v6) : pick(v4);
      f.dst = f.ipv6 ? pick(v6) : pick(v4);
      f.sport = pick(ports);
      f.dport = pick(ports);
      f.tcp_flags = static_cast<uint8_t>(rng());
      f.payload = rng() % 160;
      f.ttl = static_cast<uint8_t>(rng());
      if (rng() % 3 == 0) f.ip_options = static_cast<uint8_t>(rng() % 11);
      bytes = BuildFrame(f);
      if (rng() % 5 == 0) bytes.resize(rng() % bytes.size());
    }
    if (bytes.size() > 2 && rng() % 4 == 0) {
      for (size_t cut = 1 + rng() % 40; cut < bytes.size(); cut += 1 + rng() % 40) {
        splits.push_back(cut);
      }
    }
    MbufPtr m = MakeMbuf(bytes, splits);
    samples.push_back({std::move(bytes), std::move(m)});
  }
  std::vector<rte_mbuf*> pkts;
  for (auto& s : samples) pkts.push_back(s.mbuf.get());

  const char* expressions[] = {
      "tcp port 443",
      "host 10.0.0.1",
      "vlan and tcp",
      "ip6",
      "tcp[tcpflags] & tcp-rst != 0",
      "icmp",
      "udp and greater 100",
      "net 10.0.0.0/8 and not port 53",
      "ip6 and tcp dst port 80",
      "ip[8] < 64 or ip6[7] > 200",
      "vlan and (udp or icmp6)",
      "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn and tcp[13] != 0",
      "tcp[4:4] > 999 and ip[6:2] & 0x1fff = 0",
      "udp[4:2] - 8 > 50 or tcp[12] >> 4 = 5",
      "ip[2:2] - ((ip[0] & 0xf) << 2) > 40",  // X arithmetic and scratch memory
      "ip[2:2] * 3 / 7 % 5 = 2 or len - 14 > 150",
      "ip[2:2] / ip[1] > 1",  // TOS is mostly 0: division by zero rejects
      "ether[0] & 1 != 0 or ether[0] & 0x80 != 0 or ip[0:4] & 0xffffff80 != 0",
      "ip[1] & 0x7f = 0 and ip[4:4] != 0xfffffff0",
      "(ip[1] | 3) ^ 1 = 2 and ip[2:2] + 5 > 60",
  };
  for (const char* expression : expressions) {
    SCOPED_TRACE(expression);
    const BpfFilter filter(expression);
    const Libpcap reference(expression);
    std::vector<uint64_t> got(pkts.size()), interpreted(pkts.size());
    for (size_t i = 0; i < pkts.size(); i += 32) {  // bursts, as on the dataplane
      const auto n = static_cast<uint32_t>(std::min<size_t>(32, pkts.size() - i));
      filter.run(&pkts[i], n, &got[i]);
      BpfFilterTestPeer::Interpret(filter, &pkts[i], n, &interpreted[i]);
    }
    size_t matches = 0;
    for (size_t i = 0; i < pkts.size(); ++i) {
      const bool libpcap = reference.Matches(samples[i].bytes);
      EXPECT_EQ(got[i], interpreted[i]) << "frame " << i;
      EXPECT_EQ(filter.matches_interpreted(pkts[i]), libpcap) << "frame " << i;
      EXPECT_EQ(got[i] != 0, libpcap) << "frame " << i << ", " << samples[i].bytes.size()
                                      << " bytes, " << int{pkts[i]->nb_segs} << " segments";
      matches += got[i] != 0;
    }
    EXPECT_GT(matches, 0u);
    EXPECT_LT(matches, pkts.size());
  }
}

}  // namespace
}  // namespace vxc
