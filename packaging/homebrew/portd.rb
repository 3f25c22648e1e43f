# Homebrew formula for portd, meant to be used as a *local* formula.
#
# portd has no public release URL, so this formula builds from a tarball on
# your disk. Make one from a checkout and install from a local tap (current
# Homebrew refuses formula files outside a tap):
#
#   meson setup build && meson dist -C build --formats xztar --no-tests
#   brew tap-new "$USER/local"
#   cp packaging/homebrew/portd.rb "$(brew --repository "$USER/local")/Formula/"
#   HOMEBREW_PORTD_TARBALL="$PWD/build/meson-dist/portd-0.1.0.tar.xz" \
#     brew install --build-from-source "$USER/local/portd"
#
# brew passes only HOMEBREW_* variables through its sanitised environment,
# hence the prefix. Set sha256 once a tarball is published somewhere.
class Portd < Formula
  desc "Per-user TCP port registry for developers"
  url "file://#{ENV.fetch("HOMEBREW_PORTD_TARBALL", "/set/HOMEBREW_PORTD_TARBALL/portd-0.1.0.tar.xz")}"
  version "0.1.0"
  license "MIT"

  depends_on "cli11" => :build
  depends_on "meson" => :build
  depends_on "msgpack-cxx" => :build # header-only; portd builds it without Boost
  depends_on "ninja" => :build
  depends_on "nlohmann-json" => :build
  depends_on "pkgconf" => :build
  depends_on "scdoc" => :build
  depends_on "fmt"
  depends_on "libuv"
  depends_on "lmdb"
  uses_from_macos "sqlite"
  depends_on "spdlog"
  depends_on "tomlplusplus"
  depends_on "yaml-cpp"

  def install
    # brew services runs portd through its own launchd job or systemd unit,
    # so the packaged systemd units are left out. On macOS, launchd
    # activation is built in and the LaunchAgent template is installed under
    # share/portd/launchd for users who prefer socket activation.
    args = %w[
      -Dsystemd=disabled
      -Dman-pages=enabled
      -Dtests=disabled
    ]
    args << "-Dzsh_completions_dir=#{zsh_completion}"
    args << "-Dbash_completions_dir=#{bash_completion}"
    args << "-Dfish_completions_dir=#{fish_completion}"
    system "meson", "setup", "build", *args, *std_meson_args
    system "meson", "compile", "-C", "build", "--verbose"
    system "meson", "install", "-C", "build"
  end

  # `brew services start portd` keeps one daemon running that binds its own
  # socket at the default path, where portctl finds it. Homebrew's `sockets`
  # key supports only TCP/UDP, so no socket activation here.
  service do
    run [opt_bin/"portd"]
    keep_alive true
    log_path var/"log/portd.log"
    error_log_path var/"log/portd.log"
  end

  test do
    assert_match version.to_s, shell_output("#{bin}/portd --version")
    assert_match version.to_s, shell_output("#{bin}/portctl --version")
  end
end
