// EventTopics: the capability prefixes of the event stream (event_topics.hpp).
#include "event_topics.hpp"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <system_error>

#include "qg/common/errors.hpp"

namespace qg::broker {

std::string random_prefix() {
  std::array<std::uint8_t, EventTopics::kPrefixBytes / 2> bytes{};
  std::size_t filled = 0;
  while (filled < bytes.size()) {
    const auto got = ::getrandom(bytes.data() + filled, bytes.size() - filled, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw Error("cannot draw an event topic prefix: " + std::error_code(errno, std::generic_category()).message());
    }
    filled += static_cast<std::size_t>(got);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  text.reserve(EventTopics::kPrefixBytes);
  for (const auto b : bytes) {
    text.push_back(kHex[b >> 4]);
    text.push_back(kHex[b & 0xf]);
  }
  return text;
}

EventTopics::EventTopics(bool capabilities) : capabilities_(capabilities) {
  if (capabilities_) admin_ = random_prefix();
}

std::optional<std::string> EventTopics::prefix_for(const PeerIdentity& peer) {
  switch (peer.role()) {
    case PeerRole::local:
      return std::string();
    case PeerRole::admin:
      return admin_;
    case PeerRole::org: {
      if (!capabilities_) return std::string();
      auto [it, drawn] = orgs_.try_emplace(std::string(peer.id()));
      if (drawn) it->second = random_prefix();
      return it->second;
    }
    case PeerRole::worker:
    case PeerRole::scheduler:
      break;
  }
  return std::nullopt;
}

const std::string* EventTopics::org_prefix_of(std::string_view topic) const {
  // Only orgs that asked hold a prefix: an org's events go out under it from then on, and no
  // org id that merely appears in an event costs an entry.
  if (orgs_.empty() || topic.substr(0, 4) != "job.") return nullptr;
  const auto org = topic.substr(4, topic.find('.', 4) - 4);
  const auto it = orgs_.find(std::string(org));
  return it == orgs_.end() ? nullptr : &it->second;
}

}  // namespace qg::broker
