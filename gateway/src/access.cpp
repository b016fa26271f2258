// Who may act for which org, for the route files; the contract is in routes.hpp.
#include "routes.hpp"

namespace qg::gateway {

void require_org(const Caller& caller, const std::string& org_id) {
  if (!org_id.empty() && !caller.acts_for_org(org_id)) {
    throw ApiError(std::string(proto::errc::forbidden), "this token may act for org " + caller.org_id + " only",
                   "org_id");
  }
}

void require_every_org(const Caller& caller, const std::string& what) {
  if (!caller.sees_every_org()) {
    throw ApiError(std::string(proto::errc::forbidden), what + " need an admin token", "");
  }
}

}  // namespace qg::gateway
