#pragma once
// The parts of qg_bench_scale; bench_scale.cpp lists what each measures and runs those that
// --only selects. Each adds its rows to the table it is given, records its figures in the
// --results file, and throws BenchError when it cannot finish.

#include <string>

#include "harness/bench.hpp"

namespace qg::bench::scale {

// cpu (cpu.single, cpu.suite, cpu.floor): Redis CPU per job over its whole life, on the Redis
// at redis_url, which it flushes (redis_cpu.cpp).
void cpu(const Args& args, const std::string& redis_url, Table& table);

// calls: Redis CPU per store call, one call at a time, on the Redis at redis_url, which it
// flushes (redis_cpu.cpp).
void calls(const Args& args, const std::string& redis_url, Table& table);

// depth: cost per call and memory per job against queue depth, on two private redis-servers
// (depth.cpp).
void depth(const Args& args, Table& table);

// workers: broker resident memory with connected workers, on the Redis at redis_url, which it
// flushes (broker_memory.cpp).
void workers(const Args& args, const std::string& redis_url, Table& table);

}  // namespace qg::bench::scale
