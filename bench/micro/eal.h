// The EAL, brought up once by main() before any benchmark runs (BpfFilter and
// mbufs need it), and the inner frames copied into mbufs once.
#pragma once

#include <vector>

struct rte_mbuf;

namespace vxc::micro {

// One mbuf per inner frame of micro_frames.h, data starting at the inner
// Ethernet header, as the worker lcore holds it after decapsulation.
const std::vector<rte_mbuf*>& inner_mbufs();

}  // namespace vxc::micro
