// Borrowed protocol clients, one pool per broker; the contract is in broker_pool.hpp.
#include "broker_pool.hpp"

namespace qg::gateway {

namespace {
constexpr std::size_t kMaxIdlePerBroker = 32;  // more are closed when given back
}

BrokerPool::BrokerPool(zmq::context_t& context, std::vector<std::string> endpoints, CurveClientKeys keys,
                       std::chrono::milliseconds timeout, GatewayMetrics& metrics,
                       std::shared_ptr<spdlog::logger> logger)
    : context_(context),
      endpoints_(std::move(endpoints)),
      keys_(std::move(keys)),
      timeout_(timeout),
      metrics_(metrics),
      logger_(std::move(logger)) {
  for (const auto& e : endpoints_) {
    auto slot = std::make_unique<Slot>();
    slot->endpoint = e;
    slots_.push_back(std::move(slot));
  }
}

std::unique_ptr<client::Client> BrokerPool::borrow(std::size_t index) {
  auto& slot = *slots_.at(index);
  {
    std::lock_guard lock(slot.mutex);
    if (!slot.idle.empty()) {
      auto c = std::move(slot.idle.back());
      slot.idle.pop_back();
      return c;
    }
  }
  return std::make_unique<client::Client>(context_, slot.endpoint, keys_);
}

void BrokerPool::give_back(std::size_t index, std::unique_ptr<client::Client> c) {
  auto& slot = *slots_.at(index);
  std::lock_guard lock(slot.mutex);
  if (slot.idle.size() < kMaxIdlePerBroker) slot.idle.push_back(std::move(c));
}

void BrokerPool::note_unreachable(std::size_t index, const std::exception& e) {
  ++metrics_.broker_unreachable;
  logger_->warn("broker {}: {}", slots_.at(index)->endpoint, e.what());
}

}  // namespace qg::gateway
