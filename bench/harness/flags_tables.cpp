// The harness's flags, sample statistics, markdown tables, the --results file and number
// formatting (bench.hpp); and guarded_main, which turns a bench's exception into exit code 1.
// What these print and record is what bench/run and bench/check-targets read: the table
// layout and the "key<TAB>value" lines are part of the benches' output.

#include "bench.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>

namespace qg::bench {

Args Args::parse(int argc, char** argv, const std::string& program, const std::string& summary) {
  Args a;
  auto usage = [&](int code) {
    (code == 0 ? std::cout : std::cerr) << program << ": " << summary << "\n"
                                        << "usage: " << program
                                        << " [--quick] [--redis-url URL] [--results FILE] [--only PART]\n";
    std::exit(code);
  };
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(2);
      return argv[++i];
    };
    if (f == "--quick") {
      a.quick = true;
    } else if (f == "--redis-url") {
      a.redis_url = value();
    } else if (f == "--results") {
      a.results = value();
    } else if (f == "--only") {
      a.only = value();
    } else if (f == "--help" || f == "-h") {
      usage(0);
    } else {
      std::cerr << program << ": unknown flag " << f << "\n";
      usage(2);
    }
  }
  set_results_file(a.results);
  return a;
}

double Samples::percentile(double p) {
  if (values_.empty()) return std::nan("");
  if (!sorted_) {
    std::sort(values_.begin(), values_.end());
    sorted_ = true;
  }
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values_.size())));
  rank = std::clamp<std::size_t>(rank, 1, values_.size());
  return values_[rank - 1];
}

double Samples::mean() const {
  if (values_.empty()) return std::nan("");
  double s = 0;
  for (double v : values_) s += v;
  return s / static_cast<double>(values_.size());
}

Table::Table(std::string title, std::vector<std::string> columns)
    : title_(std::move(title)), columns_(std::move(columns)) {}

void Table::row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }

void Table::print() const {
  std::ostringstream out;
  out << "\n### " << title_ << "\n\n|";
  for (const auto& c : columns_) out << ' ' << c << " |";
  out << "\n|";
  for (std::size_t i = 0; i < columns_.size(); ++i) out << (i == 0 ? "---|" : "---:|");
  out << "\n";
  for (const auto& r : rows_) {
    out << "|";
    for (const auto& c : r) out << ' ' << c << " |";
    out << "\n";
  }
  for (const auto& n : notes_) out << "\n" << n << "\n";
  std::cout << out.str() << std::flush;
}

namespace {
std::mutex g_results_mutex;
std::string g_results_path;
}  // namespace

void set_results_file(const std::string& path) {
  std::lock_guard lock(g_results_mutex);
  g_results_path = path;
}

void record_text(const std::string& key, const std::string& value) {
  std::lock_guard lock(g_results_mutex);
  if (g_results_path.empty()) return;
  std::ofstream out(g_results_path, std::ios::app);
  out << key << '\t' << value << '\n';
}

void record(const std::string& key, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", value);
  record_text(key, buf);
}

std::string fmt(double v, int decimals) {
  if (std::isnan(v)) return "n/a";
  char buf[64];
  if (decimals > 0) {
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%.0f", v);
  std::string s = buf;
  // thousands separators
  std::string out;
  int start = (s[0] == '-') ? 1 : 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    out += s[i];
    auto left = s.size() - 1 - i;
    if (static_cast<int>(i) >= start && left > 0 && left % 3 == 0) out += ',';
  }
  return out;
}

std::string fmt_us(double us) {
  if (std::isnan(us)) return "n/a";
  char buf[64];
  if (us < 1000) {
    std::snprintf(buf, sizeof buf, "%.3f ms", us / 1000.0);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f ms", us / 1000.0);
  }
  return buf;
}

int guarded_main(const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::cerr << "bench failed: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace qg::bench
