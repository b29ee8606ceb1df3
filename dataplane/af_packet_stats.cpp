#include "af_packet_stats.h"

#include <dirent.h>
#include <linux/if_packet.h>
#include <rte_ethdev.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace vxc {
namespace {

std::mutex totals_mutex;
std::map<int, AfPacketCounts> totals;  // by ifindex; guarded by totals_mutex

// Adds what the sockets net_af_packet made for interface `ifindex` counted
// since the last read to totals[ifindex]. Needs totals_mutex.
void collect_locked(int ifindex) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  const int own_fd = dirfd(dir);
  AfPacketCounts& total = totals[ifindex];
  while (const dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == own_fd) continue;
    const int s = static_cast<int>(fd);
    int value = 0;
    socklen_t len = sizeof(value);
    if (getsockopt(s, SOL_SOCKET, SO_DOMAIN, &value, &len) != 0 || value != AF_PACKET) continue;
    len = sizeof(value);
    if (getsockopt(s, SOL_PACKET, PACKET_VERSION, &value, &len) != 0 || value != TPACKET_V2)
      continue;
    len = sizeof(value);  // the PMD puts every socket in a fanout group; libpcap never does
    if (getsockopt(s, SOL_PACKET, PACKET_FANOUT, &value, &len) != 0 || value == 0) continue;
    sockaddr_ll addr{};
    len = sizeof(addr);
    if (getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        addr.sll_ifindex != ifindex)
      continue;
    tpacket_stats st{};
    len = sizeof(st);
    if (getsockopt(s, SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) continue;
    total.packets += st.tp_packets;  // the kernel counts the drops in tp_packets too
    total.drops += st.tp_drops;
  }
  closedir(dir);
}

uint32_t pow2_at_least(uint32_t n) {
  uint32_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

bool is_af_packet_device(const std::string& devargs) {
  for (const char* prefix : {"net_af_packet", "eth_af_packet"})
    if (devargs.rfind(prefix, 0) == 0) return true;
  return false;
}

}  // namespace

AfPacketCounts af_packet_counts(int ifindex) {
  std::lock_guard<std::mutex> lock(totals_mutex);
  collect_locked(ifindex);
  return totals[ifindex];
}

uint64_t af_packet_port_drops(uint16_t port_id) {
  rte_eth_dev_info info{};
  if (rte_eth_dev_info_get(port_id, &info) != 0 || info.driver_name == nullptr ||
      std::strcmp(info.driver_name, "net_af_packet") != 0 || info.if_index == 0)
    return 0;
  return af_packet_counts(static_cast<int>(info.if_index)).drops;
}

AfPacketRing af_packet_default_ring(uint32_t mbuf_data_room) {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint32_t largest = (mbuf_data_room + kAfPacketFrameOverhead) & ~15u;
  // Blocks hold whole frames and nothing else (the PMD finds frame i at
  // i * framesz); the kernel allocates each as 2^k pages. Take the largest
  // frame size whose block fills its allocation to within 1/16, else the
  // one that fills it best, giving up at most 1 KiB of frame size.
  AfPacketRing best;
  uint64_t best_block = 0, best_allocated = 1;
  for (uint32_t framesz = largest; framesz >= 16 && framesz + 1024 >= largest; framesz -= 16) {
    for (uint32_t per_block = 1; per_block <= 64; ++per_block) {
      const uint64_t block = uint64_t{per_block} * framesz;
      if (block % page != 0) continue;
      const uint64_t allocated = page * pow2_at_least(static_cast<uint32_t>(block / page));
      if (block * best_allocated <= best_block * allocated) continue;  // fills no better
      best_block = block;
      best_allocated = allocated;
      best.framesz = framesz;
      best.blocksz = static_cast<uint32_t>(block);
      best.framecnt =
          static_cast<uint32_t>(std::max<uint64_t>(1, kAfPacketRingBytes / allocated)) * per_block;
      if ((allocated - block) * 16 <= allocated) return best;
    }
  }
  return best;
}

std::string with_af_packet_ring_defaults(const std::string& devargs, uint32_t mbuf_data_room) {
  if (!is_af_packet_device(devargs)) return devargs;
  // devargs: "<name>[,key=value]..."
  size_t pos = devargs.find(',');
  while (pos != std::string::npos) {
    const size_t next = devargs.find(',', pos + 1);
    const std::string kv =
        devargs.substr(pos + 1, next == std::string::npos ? next : next - pos - 1);
    const std::string key = kv.substr(0, kv.find('='));
    if (key == "blocksz" || key == "framesz" || key == "framecnt") return devargs;
    pos = next;
  }
  const AfPacketRing r = af_packet_default_ring(mbuf_data_room);
  return devargs + ",blocksz=" + std::to_string(r.blocksz) +
         ",framesz=" + std::to_string(r.framesz) + ",framecnt=" + std::to_string(r.framecnt);
}

}  // namespace vxc
