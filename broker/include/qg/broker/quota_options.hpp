#pragma once
// Command-line options of qg-broker's per-org quotas and submit rates (quotas.hpp). For mains
// only.

#include <boost/program_options/options_description.hpp>

#include "qg/broker/quotas.hpp"

namespace qg::broker {

// Adds --org-max-queued ORG=N (repeatable), --default-org-max-queued N, --org-submit-rate
// ORG=JOBS_PER_S[:BURST] (repeatable) and --default-org-submit-rate JOBS_PER_S[:BURST], bound
// to `quotas` (kept alive by the caller until parsing is done). A malformed value is a usage
// error naming the option.
void add_quota_options(boost::program_options::options_description& options, QuotaSettings& quotas);

}  // namespace qg::broker
