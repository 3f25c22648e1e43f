// portctl completion SHELL: prints the completion script for bash, zsh or
// fish (portctl(1), "SHELL COMPLETION"), the same bytes the packages install
// under packaging/completions/, for users who installed portctl by hand:
//   eval "$(portctl completion bash)"     (in ~/.bashrc)
//   portctl completion fish | source       (in config.fish)
#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "completion_scripts.hpp"
#include "portctl/commands.hpp"

namespace portctl {

Runner setup_completion(CLI::App& cmd) {
  auto shell = std::make_shared<std::string>();
  cmd.add_option("shell", *shell, "bash, zsh or fish")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh", "fish"}));
  return [shell](Context&) {
    std::string_view script = *shell == "bash"  ? completion::kBash
                              : *shell == "zsh" ? completion::kZsh
                                                : completion::kFish;
    std::fwrite(script.data(), 1, script.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  };
}

}  // namespace portctl
