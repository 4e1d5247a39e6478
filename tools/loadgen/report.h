// The load generator's output: a short text report for people and a JSON object for
// scripts (bench/e2e/compare.sh reads it). Latencies are reported in microseconds.
#pragma once

#include <string>

#include "tools/loadgen/options.h"
#include "tools/loadgen/runner.h"

namespace anvil::loadgen {

std::string text_report(const options& o, const run_result& r);
std::string json_report(const options& o, const run_result& r);

}  // namespace anvil::loadgen
