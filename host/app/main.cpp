// The `rbm` command-line program. The only place that catches and prints: each subcommand's error
// becomes one line on stderr and exit code 1.
#include <cstdio>
#include <exception>

#include "cli.hpp"
#include "rbm/host/safetensors.hpp"
#include "rbm/host/trainer.hpp"
#include "rbm/version.hpp"

int main(int argc, char** argv) {
  CLI::App app{"rbm: Restricted Boltzmann Machines trained with contrastive divergence, on the GPU or the CPU"};
  app.set_version_flag("--version", std::string("rbm ") + rbm::version);
  app.require_subcommand(1);
  rbm_cli::command_list commands;
  rbm_cli::register_train(app, commands);
  rbm_cli::register_evaluate(app, commands);
  rbm_cli::register_classify(app, commands);
  rbm_cli::register_tools(app, commands);
  rbm_cli::register_info(app, commands);
  // One handler for everything, parsing included: an option's callback may throw the library's own
  // errors while CLI11 parses (`sample --class -1`), and nothing may escape as an abort.
  try {
    app.parse(argc, argv);
    for (auto& [sub, run] : commands)
      if (sub->parsed()) return run();
    return 1;
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const rbm::interrupted& e) {
    std::fprintf(stderr, "rbm: %s: continue with `rbm train --resume %s` (and the same data options)\n", e.what(),
                 e.directory().c_str());
    return 130;  // the shell's code for a run ended by a signal
  } catch (const rbm::stack_file_error& e) {
    std::fprintf(stderr, "rbm: error: %s; this command takes a single RBM (features, classify, sample, evaluate "
                 "and train --resume take stacks)\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rbm: error: %s\n", e.what());
    return 1;
  } catch (...) {
    std::fprintf(stderr, "rbm: error: an unknown exception\n");
    return 1;
  }
}
