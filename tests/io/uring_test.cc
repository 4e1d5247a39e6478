// The io_uring wrapper as the snapshot code relies on it, in the mode the build uses
// (rings in an anvil-iod child process, io/iod_protocol.h): files are created, written
// (plain and fixed buffers), synced, read back, renamed and removed through it; an SQE
// that names memory the child cannot see fails with an error instead of being sent; a
// child that dies turns into a failed ring (no hang); a ring with nothing in flight
// leaves no child behind; the snapshot directory is listed by a helper process too.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "io/snapshot_files.h"
#include "io/uring.h"

namespace anvil::io {
namespace {

using namespace std::chrono_literals;

class temp_dir {
 public:
  temp_dir() {
    char t[] = "/tmp/anvil-uring-XXXXXX";
    _p = ::mkdtemp(t);
  }
  ~temp_dir() { std::filesystem::remove_all(_p); }
  const std::string& path() const { return _p; }

 private:
  std::string _p;
};

bool process_exists(pid_t p) { return ::kill(p, 0) == 0; }

TEST(Ring, RunsInAnIodChildInTheBuildTree) {
  if (remote_ring::helper_path().empty()) GTEST_SKIP() << "ANVIL_IOD=inprocess";
  ring r(8);
  EXPECT_TRUE(r.remote());
  EXPECT_GT(r.helper_pid(), 0);
  EXPECT_TRUE(process_exists(r.helper_pid()));
}

TEST(Ring, CreateWriteFixedWriteFsyncReadRenameUnlink) {
  temp_dir d;
  const std::string path = d.path() + "/f", moved = d.path() + "/g";
  ring r(16);
  const char* p = r.pin(path);
  const int fd = r.run(2s, [&](io_uring_sqe* s) {
    io_uring_prep_openat(s, AT_FDCWD, p, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  });
  ASSERT_GE(fd, 0) << errno_text(fd);

  std::byte* a = r.alloc_buffer(4096, 4096);
  std::byte* b = r.alloc_buffer(4096, 4096);
  std::memset(a, 'a', 4096);
  std::memset(b, 'b', 4096);
  ASSERT_EQ(r.register_buffers({b}, 4096), 0);
  EXPECT_EQ(r.run(2s, [&](io_uring_sqe* s) { io_uring_prep_write(s, fd, a, 4096, 0); }), 4096);
  EXPECT_EQ(r.run(2s, [&](io_uring_sqe* s) { io_uring_prep_write_fixed(s, fd, b, 4096, 4096, 0); }),
            4096);
  EXPECT_EQ(r.run(2s, [&](io_uring_sqe* s) { io_uring_prep_fsync(s, fd, 0); }), 0);

  std::byte* back = r.alloc_buffer(8192, 64);
  EXPECT_EQ(r.run(2s, [&](io_uring_sqe* s) { io_uring_prep_read(s, fd, back, 8192, 0); }), 8192);
  EXPECT_EQ(std::memcmp(back, a, 4096), 0);
  EXPECT_EQ(std::memcmp(back + 4096, b, 4096), 0);
  EXPECT_EQ(r.run(2s, [&](io_uring_sqe* s) { io_uring_prep_close(s, fd); }), 0);

  const char* q = r.pin(moved);
  EXPECT_EQ(r.run(2s, [&](io_uring_sqe* s) { io_uring_prep_rename(s, p, q); }), 0);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(std::filesystem::file_size(moved), 8192u);
  EXPECT_EQ(r.run(2s, [&](io_uring_sqe* s) { io_uring_prep_unlink(s, q, 0); }), 0);
  EXPECT_FALSE(std::filesystem::exists(moved));
  // A missing file is an error result, not a failure of the ring.
  EXPECT_EQ(r.run(2s, [&](io_uring_sqe* s) { io_uring_prep_unlink(s, q, 0); }), -ENOENT);
  EXPECT_FALSE(r.stuck());
}

TEST(Ring, MemoryOutsideTheRingIsRefusedNotSent) {
  ring r(8);
  if (!r.remote()) GTEST_SKIP() << "in-process ring: any memory is visible to the kernel";
  temp_dir d;
  static char outside[] = "/tmp/not-pinned";
  const int rc = r.run(2s, [&](io_uring_sqe* s) { io_uring_prep_unlink(s, outside, 0); });
  EXPECT_EQ(rc, -EOPNOTSUPP);
  EXPECT_FALSE(r.stuck());
  // The ring still works afterwards.
  const char* p = r.pin(d.path() + "/x");
  EXPECT_EQ(r.run(2s, [&](io_uring_sqe* s) { io_uring_prep_mkdirat(s, AT_FDCWD, p, 0755); }), 0);
}

TEST(Ring, ADeadChildFailsTheRingWithoutHanging) {
  ring r(8);
  if (!r.remote()) GTEST_SKIP() << "in-process ring";
  const pid_t child = r.helper_pid();
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  temp_dir d;
  const char* p = r.pin(d.path() + "/y");
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = r.run(30s, [&](io_uring_sqe* s) { io_uring_prep_mkdirat(s, AT_FDCWD, p, 0755); });
  EXPECT_LT(rc, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s) << "waited for the deadline";
  EXPECT_TRUE(r.stuck());
  EXPECT_TRUE(r.reap_abandoned()) << "an exited child holds nothing in flight";
}

TEST(Ring, AClosedRingLeavesNoChild) {
  pid_t child = -1;
  {
    ring r(8);
    if (!r.remote()) GTEST_SKIP() << "in-process ring";
    child = r.helper_pid();
  }
  // Reaped by the destructor: kill(0) fails (ESRCH) once the zombie is gone.
  EXPECT_FALSE(process_exists(child));
}

// Listing the snapshot directory out of process: snapshot names parsed, other names
// ignored, a missing directory reported with its errno, nothing left running.
TEST(Listing, SnapshotNamesFromTheHelperAndErrors) {
  temp_dir d;
  for (const char* n : {"snap-0000000000000002.data", "snap-0000000000000002.manifest",
                        "snap-0000000000000003.data", "snap-0000000000000003.manifest.tmp",
                        "snap-00000000000000zz.data", "snap-0000000000000004.other", "notes.txt"})
    std::ofstream(d.path() + "/" + n) << "x";
  storage_health h;
  auto l = list_snapshots_within(d.path(), 5s, &h);
  ASSERT_TRUE(l.has_value());
  ASSERT_TRUE(l->ok) << l->err;
  ASSERT_EQ(l->entries.size(), 2u);
  EXPECT_EQ(l->entries[0].id, 2u);
  EXPECT_TRUE(l->entries[0].data && l->entries[0].manifest && !l->entries[0].manifest_tmp);
  EXPECT_EQ(l->entries[1].id, 3u);
  EXPECT_TRUE(l->entries[1].data && !l->entries[1].manifest && l->entries[1].manifest_tmp);

  l = list_snapshots_within(d.path() + "/missing", 5s, &h);
  ASSERT_TRUE(l.has_value());
  EXPECT_FALSE(l->ok);
  EXPECT_EQ(l->err, ENOENT);
  EXPECT_EQ(h.get(storage_health::threads_abandoned), 0u);
  EXPECT_EQ(h.get(storage_health::io_stalls), 0u);
}

}  // namespace
}  // namespace anvil::io
