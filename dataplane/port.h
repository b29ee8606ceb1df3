// Ethernet port set-up for the dataplane: one RX queue per RX lcore, RSS
// across them where the port offers it, the RX timestamp offload where
// offered (net_pcap gives the capture's own timestamps this way), scatter for
// frames larger than an mbuf, promiscuous mode. TX queues only for the
// exception path (what the kernel answers goes out of the port).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

struct rte_mempool;

namespace vxc {

struct PortSetup {
  uint16_t rx_queues = 1;
  uint16_t tx_queues = 0;
  uint32_t rx_descriptors = 1024;
  uint16_t mtu = 0;  // 0: leave as configured
};

// Throws std::runtime_error naming the port and DPDK's error on failure.
void start_port(uint16_t port_id, const PortSetup& setup, rte_mempool* pool);
void stop_port(uint16_t port_id) noexcept;
std::string port_name(uint16_t port_id);
// Every extended statistic the PMD offers (name, value), e.g. ENA's
// bw_in_allowance_exceeded. Control plane only; empty when the PMD has none.
std::vector<std::pair<std::string, uint64_t>> port_xstats(uint16_t port_id);

}  // namespace vxc
