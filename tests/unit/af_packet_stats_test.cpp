// net_af_packet support: the default ring geometry, the --vdev rewrite, and
// the kernel drop counters read from this process's AF_PACKET sockets (in a
// network namespace of the test's own, so no other traffic counts).
#include "dataplane/af_packet_stats.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

namespace vxc {
namespace {

constexpr uint32_t kPage = 4096;

TEST(AfPacketDefaultRing, DocumentedSizes) {
  ASSERT_EQ(sysconf(_SC_PAGESIZE), kPage);
  const AfPacketRing standard = af_packet_default_ring(2048);
  EXPECT_EQ(standard.framesz, 2048u);
  EXPECT_EQ(standard.blocksz, 4096u);
  EXPECT_EQ(standard.framecnt, 32768u);
  const AfPacketRing jumbo = af_packet_default_ring(9216);
  EXPECT_EQ(jumbo.framesz, 9216u);
  EXPECT_EQ(jumbo.blocksz, 28u * 9216u);  // 63 pages in a 64-page allocation
  EXPECT_EQ(jumbo.framecnt, 256u * 28u);  // 64 MiB of 256 KiB allocations
  // An MTU 9001 frame with two VLAN tags fits whole.
  EXPECT_GE(jumbo.framesz - kAfPacketMacOffset, 9001u + 14u + 8u);
}

// What the kernel (packet_set_ring) and the PMD (frame i at i * framesz, frame
// data in one mbuf) need, for every mbuf size the options allow.
TEST(AfPacketDefaultRing, KernelAndPmdAcceptEveryMbufSize) {
  for (uint32_t room = 256; room <= 65000; room += 8) {
    SCOPED_TRACE(room);
    const AfPacketRing r = af_packet_default_ring(room);
    ASSERT_GT(r.framesz, 0u);
    EXPECT_EQ(r.framesz % 16, 0u);                        // TPACKET_ALIGNMENT
    EXPECT_LE(r.framesz - kAfPacketFrameOverhead, room);  // eth_rx_queue_setup
    EXPECT_EQ(r.blocksz % kPage, 0u);                     // whole pages
    EXPECT_EQ(r.blocksz % r.framesz, 0u);                 // frames back to back
    EXPECT_EQ(r.framecnt % (r.blocksz / r.framesz), 0u);  // whole blocks
    uint64_t allocated = kPage;
    while (allocated < r.blocksz) allocated <<= 1;
    EXPECT_LE(r.framecnt / (r.blocksz / r.framesz) * allocated, kAfPacketRingBytes);
    EXPECT_GE(r.blocksz * 10, allocated * 8);  // fills its 2^k pages well
    // Gives up at most 1 KiB of the frame size the mbufs allow.
    EXPECT_LE(room + kAfPacketFrameOverhead - r.framesz, 1024u + 15u);
    EXPECT_GE(r.framecnt, 512u);  // the PMD's default, at least
  }
}

TEST(WithAfPacketRingDefaults, AddsTheRingWhereNoneIsNamed) {
  EXPECT_EQ(with_af_packet_ring_defaults("net_af_packet0,iface=eth1", 2048),
            "net_af_packet0,iface=eth1,blocksz=4096,framesz=2048,framecnt=32768");
  EXPECT_EQ(with_af_packet_ring_defaults("eth_af_packet1,iface=eth1,qpairs=2", 2048),
            "eth_af_packet1,iface=eth1,qpairs=2,blocksz=4096,framesz=2048,framecnt=32768");
  EXPECT_EQ(with_af_packet_ring_defaults("net_af_packet0,iface=framesz", 2048),
            "net_af_packet0,iface=framesz,blocksz=4096,framesz=2048,framecnt=32768");
  EXPECT_EQ(with_af_packet_ring_defaults("net_af_packet0,iface=k", 9216),
            "net_af_packet0,iface=k,blocksz=258048,framesz=9216,framecnt=7168");
}

TEST(WithAfPacketRingDefaults, LeavesOtherArgumentsAlone) {
  for (const char* devargs :
       {"net_af_packet0,iface=eth1,framecnt=4096", "net_af_packet0,iface=eth1,framesz=4096",
        "net_af_packet0,blocksz=8192,iface=eth1", "net_pcap0,iface=eth1", "net_ring0", "",
        "0000:00:06.0"})
    EXPECT_EQ(with_af_packet_ring_defaults(devargs, 2048), devargs);
}

// ---- kernel counters ----------------------------------------------------------

class AfPacketCountsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (unshare(CLONE_NEWNET) != 0)
      GTEST_SKIP() << "needs a network namespace: " << std::strerror(errno);
    const int s = socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(s, 0);
    ifreq ifr{};
    std::strcpy(ifr.ifr_name, "lo");
    ASSERT_EQ(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
    ifr.ifr_flags |= IFF_UP;
    ASSERT_EQ(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
    close(s);
    lo_ = static_cast<int>(if_nametoindex("lo"));
    ASSERT_GT(lo_, 0);
    // Totals are per process and lo has the same index in every namespace:
    // each test counts from what earlier tests left.
    base_ = af_packet_counts(lo_);
    receiver_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(receiver_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    socklen_t len = sizeof(to_);
    ASSERT_EQ(getsockname(receiver_, reinterpret_cast<sockaddr*>(&to_), &len), 0);
    sender_ = socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(sender_, 0);
  }
  void TearDown() override {
    for (int fd : fds_) close(fd);
    if (receiver_ >= 0) close(receiver_);
    if (sender_ >= 0) close(sender_);
  }

  // An AF_PACKET socket on lo of TPACKET `version`; with `frames`, an RX ring
  // of that many 2 KiB frames that nobody reads; with `fanout`, in a fanout
  // group of its own. TPACKET_V2, a ring and a fanout group: as net_af_packet
  // makes them.
  int packet_socket(int version, uint32_t frames, bool fanout = true) {
    const int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    EXPECT_GE(s, 0) << std::strerror(errno);
    fds_.push_back(s);
    EXPECT_EQ(setsockopt(s, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)), 0);
    if (frames != 0) {
      tpacket_req req{kPage, frames * 2048 / kPage, 2048, frames};
      EXPECT_EQ(setsockopt(s, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)), 0)
          << std::strerror(errno);
    }
    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(ETH_P_ALL);
    addr.sll_ifindex = lo_;
    EXPECT_EQ(bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    if (fanout) {
      const int arg = (next_fanout_id_++ & 0xffff) | (PACKET_FANOUT_HASH << 16);
      EXPECT_EQ(setsockopt(s, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)), 0)
          << std::strerror(errno);
    }
    return s;
  }

  void send_datagrams(int n) {
    const char payload[64] = {};
    for (int i = 0; i < n; ++i)
      ASSERT_EQ(sendto(sender_, payload, sizeof(payload), 0, reinterpret_cast<sockaddr*>(&to_),
                       sizeof(to_)),
                static_cast<ssize_t>(sizeof(payload)));
  }

  // Counts since SetUp.
  AfPacketCounts counts() {
    AfPacketCounts c = af_packet_counts(lo_);
    return {c.packets - base_.packets, c.drops - base_.drops};
  }

  int lo_ = 0;
  int next_fanout_id_ = 4242;
  AfPacketCounts base_;
  int receiver_ = -1;
  int sender_ = -1;
  sockaddr_in to_{};
  std::vector<int> fds_;
};

TEST_F(AfPacketCountsTest, CountsRingOverflowsAndKeepsThemAcrossReads) {
  packet_socket(TPACKET_V2, 4);
  EXPECT_EQ(counts().packets, 0u);
  send_datagrams(50);
  const AfPacketCounts first = counts();
  EXPECT_GE(first.packets, 50u);              // each datagram passes lo at least once
  EXPECT_EQ(first.drops, first.packets - 4);  // a 4-frame ring nobody reads
  // The kernel reset its counters on that read; the totals stay.
  const AfPacketCounts again = counts();
  EXPECT_EQ(again.packets, first.packets);
  EXPECT_EQ(again.drops, first.drops);
  send_datagrams(30);
  const AfPacketCounts more = counts();
  EXPECT_GE(more.packets, first.packets + 30);
  EXPECT_EQ(more.drops - first.drops, more.packets - first.packets);  // the ring stayed full
  EXPECT_EQ(af_packet_counts(lo_ + 1000).packets, 0u);                // no such interface
}

TEST_F(AfPacketCountsTest, SumsEverySocketOfTheInterface) {
  packet_socket(TPACKET_V2, 2);
  packet_socket(TPACKET_V2, 2);
  send_datagrams(20);
  const AfPacketCounts c = counts();
  EXPECT_GE(c.packets, 2u * 20u);  // both sockets see every frame
  EXPECT_EQ(c.drops, c.packets - 4);
}

TEST_F(AfPacketCountsTest, LeavesOtherPacketSocketsAlone) {
  const int v1 = packet_socket(TPACKET_V1, 0, false);  // a plain capture socket
  const int v2 = packet_socket(TPACKET_V2, 4, false);  // libpcap's in immediate mode
  const int v3 = packet_socket(TPACKET_V3, 0, false);  // libpcap's
  send_datagrams(10);
  EXPECT_EQ(counts().packets, 0u);
  for (int s : {v1, v2, v3}) {
    tpacket_stats st{};
    socklen_t len = sizeof(st);
    ASSERT_EQ(getsockopt(s, SOL_PACKET, PACKET_STATISTICS, &st, &len), 0);
    EXPECT_GE(st.tp_packets, 10u) << "the statistics are still there for the socket's owner";
  }
}

TEST_F(AfPacketCountsTest, ConcurrentReadersLoseNothing) {
  packet_socket(TPACKET_V2, 2);
  std::vector<std::thread> readers;
  std::atomic<bool> stop{false};
  for (int t = 0; t < 4; ++t)
    readers.emplace_back([&] {
      while (!stop.load()) af_packet_counts(lo_);
    });
  send_datagrams(2000);
  stop = true;
  for (auto& r : readers) r.join();
  const AfPacketCounts c = counts();
  EXPECT_GE(c.packets, 2000u);
  EXPECT_EQ(c.drops, c.packets - 2);
}

}  // namespace
}  // namespace vxc
