// thread_annotations.h — lock contracts the compiler checks (clang -Wthread-safety), after
// LevelDB's port/thread_annotations.h and Abseil's Mutex.
//
//   class Counter {
//    public:
//     void Add() { core::MutexLock lock(mu_); ++n_; }
//    private:
//     core::Mutex mu_;
//     int n_ GUARDED_BY(mu_) = 0;
//   };
//
// Reading n_ without holding mu_ is then a compile error in every clang build with
// CALLREC_WERROR (scripts/tsan builds that way in CI). GCC ignores the attributes.
//
// core::Mutex is a std::mutex with the capability attributes; core::MutexLock holds it for a
// scope and can be handed to a std::condition_variable_any (it is BasicLockable).
//
// Thread-safety: Mutex is what makes other classes thread-safe.
#pragma once

#include <mutex>

#if defined(__clang__)
#define CALLREC_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define CALLREC_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) CALLREC_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY CALLREC_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) CALLREC_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) CALLREC_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_AFTER(...) CALLREC_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define ACQUIRED_BEFORE(...) CALLREC_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define REQUIRES(...) CALLREC_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) CALLREC_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) CALLREC_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define EXCLUDES(...) CALLREC_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS CALLREC_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace callrec::core {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

// Holds a Mutex for its scope. lock()/unlock() let a std::condition_variable_any release and
// retake it while waiting; the analysis treats the wait as holding the lock throughout, which is
// what the code after the wait may assume.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() RELEASE() { mu_.Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // For std::condition_variable_any only.
  void lock() NO_THREAD_SAFETY_ANALYSIS { mu_.Lock(); }
  void unlock() NO_THREAD_SAFETY_ANALYSIS { mu_.Unlock(); }

 private:
  Mutex& mu_;
};

}  // namespace callrec::core
