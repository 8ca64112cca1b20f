// temp_files.h — removing what interrupted copies left behind, once at start.
//
// A copy (step_store.cc) streams the download to `<temp_dir>/callrec-<intake>-<pid>-<n>.part`,
// and FsStorage writes `<storage_dir>/<intake>/recording.<ext>.tmp.<pid>.<n>` before renaming it
// into place. A crash or SIGKILL mid-copy leaves those files; nothing ever reads them (the step
// runs again from the log), so `serve` removes them before its workers start. Only names of
// exactly these shapes are touched: a user's own files in the folders stay.
//
// Thread-safety: call before any copy runs (no worker may be writing such a file).
#pragma once

#include <cstddef>
#include <string>

namespace callrec::projector {

struct TempCleanup {
  size_t removed = 0;
  size_t failed = 0;  // could not be removed (logged by the caller); the start goes on
};

// Either directory may be "" or missing (nothing to do).
TempCleanup RemoveInterruptedCopies(const std::string& temp_dir, const std::string& storage_dir);

}  // namespace callrec::projector
