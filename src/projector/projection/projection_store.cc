// projection_store.cc — how a store-backed Projection reads what it does not keep in memory:
// finished intakes, call bindings and the unbound index, always through the changes not yet
// flushed first (they are newer than the store). An in-memory projection answers the same reads
// from its own maps. See projection.h for which intakes stay resident.
#include <charconv>

#include "core/phone.h"
#include "projector/projection/projection.h"
#include "projector/projection/projection_keys.h"

namespace callrec::projector {

using core::Result;
using core::Status;

void Projection::NoteReadError(const Status& status) const {
  if (status_.ok()) status_ = status;
}

Projection::Entry* Projection::EntryFor(std::string_view id) const {
  if (auto it = intakes_.find(id); it != intakes_.end()) return &it->second;
  if (!store_ || !IsValidIntakeId(id)) return nullptr;
  auto entry = ReadEntry(id);
  if (!entry.ok()) {
    NoteReadError(entry.status());
    return nullptr;
  }
  if (!*entry) return nullptr;
  evictable_.insert(std::string(id));
  return &intakes_.emplace(std::string(id), std::move(**entry)).first->second;
}

// Reads intake/<id> and the bookkeeping beside it. Only clean intakes are ever out of memory,
// so the store has their latest flushed state.
Result<std::optional<Projection::Entry>> Projection::ReadEntry(std::string_view id) const {
  CALLREC_ASSIGN_OR_RETURN(auto json, store_->GetDerived(keys::IntakeKey(id)));
  if (!json) return std::optional<Entry>();
  auto intake = IntakeFromJson(*json);
  if (!intake.ok()) return Status::Corruption("intake/" + std::string(id) + ": " + intake.status().message());
  if (intake->id != id) return Status::Corruption("intake/" + std::string(id) + " holds intake " + intake->id);
  Entry entry;
  auto e164 = core::NormalizeE164(intake->patient_phone);
  entry.phone_indexed = e164.ok() && *e164 == intake->patient_phone;
  entry.flushed_state = intake->state;
  entry.flushed_open = OpenState(*intake);
  entry.intake = std::move(*intake);
  CALLREC_ASSIGN_OR_RETURN(auto seq_text, store_->GetDerived(keys::IntakeSeqKey(id)));
  uint64_t seq = 0;
  if (!seq_text || std::from_chars(seq_text->data(), seq_text->data() + seq_text->size(), seq).ec != std::errc())
    return Status::Corruption("projector/updated/" + std::string(id) + " missing or not a number");
  entry.updated_seq = entry.flushed_updated_seq = seq;
  return std::optional<Entry>(std::move(entry));
}

uint64_t Projection::CreatedSeq(Entry& entry) {
  if (entry.created_seq == 0) {  // read back from the store: the phone index has it
    auto text = ReadKey(keys::PhoneKey(entry.intake.patient_phone, entry.intake.id));
    if (!text || std::from_chars(text->data(), text->data() + text->size(), entry.created_seq).ec != std::errc())
      NoteReadError(Status::Corruption("projector/phone/ entry of intake " + entry.intake.id + " missing"));
  }
  return entry.created_seq;
}

std::optional<std::string> Projection::ReadKey(const std::string& key) const {
  if (auto it = pending_.find(key); it != pending_.end()) return it->second;
  if (!store_) {
    auto it = index_keys_.find(key);
    return it == index_keys_.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  auto value = store_->GetDerived(key);
  if (!value.ok()) {
    NoteReadError(value.status());
    return std::nullopt;
  }
  return *value;
}

void Projection::ScanKeys(const std::string& prefix, const std::string& from, const std::string& to,
                          const KeyVisitor& visit) const {
  // Flushed keys in range, then the unflushed puts and deletes over them.
  std::set<std::string, std::less<>> found;
  auto in_range = [&](std::string_view k) { return k.substr(0, prefix.size()) == prefix && k <= to; };
  if (store_) {
    Status s = store_->ScanDerivedFrom(prefix, from, [&](std::string_view k, std::string_view) {
      if (!in_range(k)) return false;
      found.emplace(k);
      return true;
    });
    if (!s.ok()) NoteReadError(s);
  } else {
    for (auto it = index_keys_.lower_bound(from); it != index_keys_.end() && in_range(it->first); ++it)
      found.insert(it->first);
  }
  for (auto it = pending_.lower_bound(from); it != pending_.end() && in_range(it->first); ++it) {
    if (it->second) {
      found.insert(it->first);
    } else {
      found.erase(it->first);
    }
  }
  for (const std::string& k : found)
    if (!visit(k)) return;
}

// The in-memory projection's stand-in for the store: the call, phone and unbound index keys it
// flushed (phone keys too, beside what projection.h lists: the "no intake for the number" check).
void Projection::KeepIndexKey(const std::string& key, const std::optional<std::string>& value) {
  std::string_view k = key;
  if (k.substr(0, keys::kCall.size()) != keys::kCall && k.substr(0, keys::kUnbound.size()) != keys::kUnbound &&
      k.substr(0, keys::kPhone.size()) != keys::kPhone)
    return;
  if (value) {
    index_keys_[key] = *value;
  } else {
    index_keys_.erase(key);
  }
}

}  // namespace callrec::projector
