// RemoveInterruptedCopies: what a crash mid-copy leaves goes, everything else stays.
#include "projector/clients/temp_files.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fakes/temp_dir.h"

namespace callrec::projector {
namespace {

namespace fs = std::filesystem;
using callrec::testing::TempDir;

void Touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "x";
}

TEST(TempFilesTest, RemovesPartialDownloadsAndStorageTempsOnly) {
  TempDir dir;
  fs::path incoming = fs::path(dir.path()) / "recordings" / ".incoming";
  fs::path storage = fs::path(dir.path()) / "recordings";
  Touch(incoming / "callrec-intake-1-4242-17.part");                  // interrupted download
  Touch(storage / "intake-1" / "recording.wav.tmp.4242.0");            // interrupted fs copy
  Touch(storage / "intake-2" / "recording.wav");                       // a stored copy
  Touch(incoming / "notes.txt");                                       // not ours
  Touch(storage / "intake-2" / "recording.wav.sha256");                // not a temp name

  TempCleanup c = RemoveInterruptedCopies(incoming.string(), storage.string());
  EXPECT_EQ(c.removed, 2u);
  EXPECT_EQ(c.failed, 0u);
  EXPECT_FALSE(fs::exists(incoming / "callrec-intake-1-4242-17.part"));
  EXPECT_FALSE(fs::exists(storage / "intake-1" / "recording.wav.tmp.4242.0"));
  EXPECT_TRUE(fs::exists(storage / "intake-2" / "recording.wav"));
  EXPECT_TRUE(fs::exists(incoming / "notes.txt"));
  EXPECT_TRUE(fs::exists(storage / "intake-2" / "recording.wav.sha256"));

  EXPECT_EQ(RemoveInterruptedCopies(incoming.string(), storage.string()).removed, 0u);
}

TEST(TempFilesTest, MissingOrEmptyDirectoriesAreNothingToDo) {
  TempDir dir;
  TempCleanup c = RemoveInterruptedCopies(dir.path() + "/nope", "");
  EXPECT_EQ(c.removed + c.failed, 0u);
}

}  // namespace
}  // namespace callrec::projector
