#include "sys/peer_cred.hpp"

#include <sys/socket.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <sys/un.h>
#endif

namespace portd::sys {

std::optional<PeerCredentials> peer_credentials(int fd) noexcept {
  PeerCredentials out;
#if defined(SO_PEERCRED)
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
  out.uid = cred.uid;
  out.gid = cred.gid;
  out.pid = cred.pid;
#else
  if (::getpeereid(fd, &out.uid, &out.gid) != 0) return std::nullopt;
#if defined(LOCAL_PEERPID)
  // Best effort: the uid is what callers check; the pid is for messages.
  pid_t pid = 0;
  socklen_t len = sizeof pid;
  if (::getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &pid, &len) == 0) out.pid = pid;
#endif
#endif
  return out;
}

}  // namespace portd::sys
