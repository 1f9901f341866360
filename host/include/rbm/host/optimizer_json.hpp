// rbm::optimizer in JSON (a checkpoint's configuration, a stack's plan): its name; an unknown name is
// refused, never read as one of them.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "rbm/host/idx.hpp"  // data_error
#include "rbm/optimizer.hpp"

namespace rbm {

inline void to_json(nlohmann::json& j, optimizer o) { j = to_string(o); }
inline void from_json(const nlohmann::json& j, optimizer& o) {
  if (!parse_optimizer(j.get<std::string>(), o))
    throw data_error("unknown optimizer '" + j.get<std::string>() + "' (sgd or adam)");
}

}  // namespace rbm
