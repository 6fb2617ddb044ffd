#pragma once
/// @file
/// A move-only, type-erased callable with fixed inline storage and no heap.
/// Op slots hold their handler here, so starting an operation never allocates
/// (DESIGN invariant 5). A callable that does not fit is a compile error, not a
/// silent fallback to the heap.
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace ringxfer {

/// Declared for signatures; see the specialization InlineFunction<R(Args...)>.
template <class Signature, std::size_t CapacityBytes = 64>
class InlineFunction;

/// A callable R(Args...) stored in CapacityBytes inline bytes. Engine handlers
/// use 64 (handler_capacity_bytes): a lambda capturing more is rejected by a
/// static_assert whose message says "handler captures too much"; capture a
/// pointer to your own state instead.
template <class R, class... Args, std::size_t CapacityBytes>
class InlineFunction<R(Args...), CapacityBytes> {
 public:
  /// Empty (operator bool is false).
  InlineFunction() noexcept = default;

  /// Stores `f` inline. Fails to compile if `f` is larger than CapacityBytes,
  /// over-aligned or not nothrow-movable.

  template <class F, class D = std::decay_t<F>,
            class = std::enable_if_t<!std::is_same_v<D, InlineFunction>>>
  InlineFunction(F&& f) noexcept {  ///< NOLINT: implicit, like std::function
    static_assert(sizeof(D) <= CapacityBytes,
                  "handler captures too much: more than its CapacityBytes (for Engine handlers "
                  "ringxfer::handler_capacity_bytes = 64); capture a pointer to your state instead");
    static_assert(alignof(D) <= alignof(std::max_align_t), "handler over-aligned");
    static_assert(std::is_nothrow_move_constructible_v<D>,
                  "handler must be nothrow move constructible");
    ::new (static_cast<void*>(storage_)) D(std::forward<F>(f));
    invoke_ = [](void* s, Args... args) -> R {
      return (*static_cast<D*>(s))(std::forward<Args>(args)...);
    };
    manage_ = [](void* dst, void* src) noexcept {
      if (dst != nullptr) ::new (dst) D(std::move(*static_cast<D*>(src)));
      static_cast<D*>(src)->~D();
    };
  }

  /// Takes `other`'s callable; `other` becomes empty.
  InlineFunction(InlineFunction&& other) noexcept { take(other); }
  /// Destroys this callable, then takes `other`'s.
  InlineFunction& operator=(InlineFunction&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  InlineFunction(const InlineFunction&) = delete;
  InlineFunction& operator=(const InlineFunction&) = delete;
  ~InlineFunction() { reset(); }

  /// True if a callable is stored.
  explicit operator bool() const noexcept { return invoke_ != nullptr; }

  /// Calls the stored callable (which must exist).
  R operator()(Args... args) { return invoke_(storage_, std::forward<Args>(args)...); }

  /// Destroys the stored callable.
  void reset() noexcept {
    if (manage_ != nullptr) manage_(nullptr, storage_);
    invoke_ = nullptr;
    manage_ = nullptr;
  }

 private:
  void take(InlineFunction& other) noexcept {
    if (other.manage_ == nullptr) return;
    other.manage_(storage_, other.storage_);
    invoke_ = other.invoke_;
    manage_ = other.manage_;
    other.invoke_ = nullptr;
    other.manage_ = nullptr;
  }

  alignas(std::max_align_t) unsigned char storage_[CapacityBytes];
  R (*invoke_)(void*, Args...) = nullptr;
  void (*manage_)(void*, void*) noexcept = nullptr;
};

}  // namespace ringxfer
