// Thread placement beside the dataplane's lcores.
#pragma once

#include <pthread.h>
#include <rte_lcore.h>
#include <sched.h>

namespace vxc {

// Threads started while this lives (writers, control, HTTP) run on the CPUs
// that no EAL lcore is pinned to, or on every allowed CPU when the lcores
// take them all. Without it they would inherit the main lcore's pinning and
// take turns with the dataplane on its core.
// `process`: the CPUs the process may use, read before rte_eal_init (after
// it, this thread's own set is the main lcore's CPU alone).
class NonLcoreAffinity {
 public:
  explicit NonLcoreAffinity(const cpu_set_t& process) {
    CPU_ZERO(&saved_);
    if (pthread_getaffinity_np(pthread_self(), sizeof(saved_), &saved_) != 0) return;
    cpu_set_t free_cpus = process;
    unsigned lcore;
    RTE_LCORE_FOREACH(lcore) {
      const rte_cpuset_t cpus = rte_lcore_cpuset(lcore);
      for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &cpus)) CPU_CLR(c, &free_cpus);
    }
    const cpu_set_t& use = CPU_COUNT(&free_cpus) > 0 ? free_cpus : process;
    restore_ = pthread_setaffinity_np(pthread_self(), sizeof(use), &use) == 0;
  }
  ~NonLcoreAffinity() {
    if (restore_) pthread_setaffinity_np(pthread_self(), sizeof(saved_), &saved_);
  }
  NonLcoreAffinity(const NonLcoreAffinity&) = delete;
  NonLcoreAffinity& operator=(const NonLcoreAffinity&) = delete;

 private:
  cpu_set_t saved_;
  bool restore_ = false;
};

}  // namespace vxc
