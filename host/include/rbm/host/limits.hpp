// The limits of what rbm's files and tools take, in one place: the model file's readers, the trainer's
// option checks, the CLI's validators and the Python binding all use these names.
#pragma once

namespace rbm {

constexpr int max_classes = 65536;       // a label group's classes (rows of the model file's label_W)
constexpr int max_states = 1024;        // categorical visible units: states per site
constexpr int max_tempering = 1000;     // parallel tempering: temperatures per chain
constexpr int max_ais_runs = 100000;     // AIS runs (each a chain: nv + nh floats per run)
constexpr int max_ais_steps = 10000000;  // AIS intermediate distributions (temperatures)

}  // namespace rbm
