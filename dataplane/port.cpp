#include "port.h"

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <stdexcept>
#include <string>

namespace vxc {
namespace {

[[noreturn]] void fail(uint16_t port_id, const char* what, int rc) {
  throw std::runtime_error("port " + std::to_string(port_id) + " (" + port_name(port_id) + "): " +
                           what + ": " + rte_strerror(rc < 0 ? -rc : rc));
}

}  // namespace

std::string port_name(uint16_t port_id) {
  char name[RTE_ETH_NAME_MAX_LEN] = {};
  if (rte_eth_dev_get_name_by_port(port_id, name) != 0) return "?";
  return name;
}

std::vector<std::pair<std::string, uint64_t>> port_xstats(uint16_t port_id) {
  std::vector<std::pair<std::string, uint64_t>> out;
  const int n = rte_eth_xstats_get_names(port_id, nullptr, 0);
  if (n <= 0) return out;
  std::vector<rte_eth_xstat_name> names(static_cast<size_t>(n));
  std::vector<rte_eth_xstat> values(static_cast<size_t>(n));
  if (rte_eth_xstats_get_names(port_id, names.data(), n) != n) return out;
  const int got = rte_eth_xstats_get(port_id, values.data(), n);
  if (got != n) return out;
  for (const rte_eth_xstat& v : values)
    if (v.id < names.size()) out.emplace_back(names[v.id].name, v.value);
  return out;
}

void start_port(uint16_t port_id, const PortSetup& setup, rte_mempool* pool) {
  rte_eth_dev_info info{};
  int rc = rte_eth_dev_info_get(port_id, &info);
  if (rc != 0) fail(port_id, "rte_eth_dev_info_get", rc);
  if (setup.rx_queues > info.max_rx_queues)
    throw std::runtime_error("port " + std::to_string(port_id) + " (" + port_name(port_id) +
                             ") has " + std::to_string(info.max_rx_queues) + " RX queues, " +
                             std::to_string(setup.rx_queues) + " RX lcores need one each");

  if (setup.tx_queues > info.max_tx_queues)
    throw std::runtime_error("port " + std::to_string(port_id) + " (" + port_name(port_id) +
                             ") has " + std::to_string(info.max_tx_queues) + " TX queues, " +
                             std::to_string(setup.tx_queues) + " needed for the exception path");

  rte_eth_conf conf{};
  if (setup.rx_queues > 1 && info.flow_type_rss_offloads != 0) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    // Outer IP + UDP ports: the mirror source varies the UDP source port per inner flow.
    conf.rx_adv_conf.rss_conf.rss_hf =
        info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP);
  }
  if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP)
    conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
  if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER)
    conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;

  rc = rte_eth_dev_configure(port_id, setup.rx_queues, setup.tx_queues, &conf);
  if (rc != 0) fail(port_id, "rte_eth_dev_configure", rc);
  if (setup.mtu != 0) {
    rc = rte_eth_dev_set_mtu(port_id, setup.mtu);
    if (rc != 0) fail(port_id, "rte_eth_dev_set_mtu", rc);
  }
  uint16_t rx_desc = static_cast<uint16_t>(setup.rx_descriptors);
  uint16_t tx_desc = setup.tx_queues != 0 ? 512 : 0;
  rc = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rx_desc, &tx_desc);
  if (rc != 0) fail(port_id, "rte_eth_dev_adjust_nb_rx_tx_desc", rc);
  const int socket = rte_eth_dev_socket_id(port_id);
  for (uint16_t q = 0; q < setup.rx_queues; ++q) {
    rte_eth_rxconf rxconf = info.default_rxconf;
    rxconf.offloads = conf.rxmode.offloads;
    rc = rte_eth_rx_queue_setup(port_id, q, rx_desc, socket < 0 ? 0 : socket, &rxconf, pool);
    if (rc != 0) fail(port_id, "rte_eth_rx_queue_setup", rc);
  }
  for (uint16_t q = 0; q < setup.tx_queues; ++q) {
    rc = rte_eth_tx_queue_setup(port_id, q, tx_desc, socket < 0 ? 0 : socket, nullptr);
    if (rc != 0) fail(port_id, "rte_eth_tx_queue_setup", rc);
  }
  rc = rte_eth_dev_start(port_id);
  if (rc != 0) fail(port_id, "rte_eth_dev_start", rc);
  rc = rte_eth_promiscuous_enable(port_id);
  if (rc != 0 && rc != -ENOTSUP) fail(port_id, "rte_eth_promiscuous_enable", rc);
}

void stop_port(uint16_t port_id) noexcept {
  rte_eth_dev_stop(port_id);
  rte_eth_dev_close(port_id);
}

}  // namespace vxc
