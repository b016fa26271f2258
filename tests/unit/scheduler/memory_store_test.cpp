// The JobStore contract against the in-memory store.

#include "job_store_contract.hpp"

namespace qg::sched::contract {
namespace {

struct MemoryBackend {
  static void start() {}
  static void stop() {}
  static std::shared_ptr<JobStore> make(const StoreSettings& settings) { return make_memory_store(settings); }
  // One instance is the whole store: racing callers share it (it is thread-safe).
  static std::shared_ptr<JobStore> make_peer(const StoreSettings&, std::shared_ptr<JobStore> first) { return first; }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Memory, JobStoreContract, MemoryBackend);

}  // namespace
}  // namespace qg::sched::contract
