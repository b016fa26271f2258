#pragma once
// The Redis store's farm statistics (qg/scheduler/farm_stats.hpp), kept in hashes, one per
// bucket: <p>fs:m:<minute> (expires after 62 minutes) and <p>fs:f:<five minutes> (after a day
// and ten minutes), written by every script that reports runs or finishes jobs (prelude.lua:
// stat, commit). Their fields are "<org_id>/<target>|<what>": s:<status> (final statuses
// reached), r (runs reported), i (installs reported), t:<bin> (test durations), n:<bin>
// (install durations).

#include <msgpack.hpp>

#include "job_codec.hpp"
#include "qg/proto/messages.hpp"
#include "qg/scheduler/farm_stats.hpp"

namespace qg::sched::redis {

// A report's two values for kReport's farm statistics: its test duration's bin (when the test
// ran to an outcome: passed, failed, timed_out) and its install's bin, -1 each when none.
inline void pack_stat_bins(msgpack::packer<PackTo>& p, const proto::Report& r) {
  using proto::JobStatus;
  const bool ran = r.status == JobStatus::passed || r.status == JobStatus::failed || r.status == JobStatus::timed_out;
  p.pack_int32(ran ? farm::duration_bin(r.duration_ms) : -1);
  p.pack_int32(r.install_ms ? farm::duration_bin(*r.install_ms) : -1);
}

}  // namespace qg::sched::redis
