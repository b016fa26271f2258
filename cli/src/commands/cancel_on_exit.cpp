// cancel_unfinished(): contract in cancel_on_exit.hpp.
#include "cancel_on_exit.hpp"

#include "qg/cli/terminal_text.hpp"

namespace qg::cli {

std::vector<proto::CancelResult> cancel_unfinished(Client& client, const std::vector<proto::Job>& unfinished,
                                                   std::chrono::milliseconds timeout, std::ostream& err) {
  std::vector<proto::CancelResult> results;
  if (unfinished.empty()) return results;
  err << "qgjob: cancelling " << unfinished.size() << " unfinished job(s) (--keep-on-exit leaves them running)\n";
  for (std::size_t i = 0; i < unfinished.size(); ++i) {
    const auto& job = unfinished[i];
    proto::CancelRequest req;
    req.rid = client.new_rid();
    req.job_id = job.id;
    try {
      auto reply = client.call<proto::CancelReply>(req, timeout);
      for (auto& r : reply.results) {
        std::string what = r.outcome == "cancelled"          ? "cancelled"
                           : r.outcome == "cancel_requested" ? "cancel requested (its worker stops it)"
                           : r.outcome == "already_final"    ? "already " + std::string(proto::to_string(r.status))
                                                             : r.outcome;
        err << "  " << printable(r.job_id) << "  " << printable(job.test_path) << "  " << printable(what) << "\n";
        results.push_back(std::move(r));
      }
    } catch (const RequestFailed& e) {
      err << "  " << printable(job.id) << "  " << printable(job.test_path) << "  not cancelled: " << printable(e.what())
          << "\n";
    } catch (const BrokerUnreachable&) {
      err << "qgjob: the broker did not answer; not cancelled:";
      for (std::size_t k = i; k < unfinished.size(); ++k) err << " " << printable(unfinished[k].id);
      err << "\n";
      break;
    } catch (const BadReply& e) {
      err << "  " << printable(job.id) << "  not cancelled: " << printable(e.what()) << "\n";
    }
  }
  err << std::flush;
  return results;
}

}  // namespace qg::cli
