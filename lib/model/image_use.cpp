// Last use of each local image (SPEC "The emergency tier"), from events and image lists.
// Event shapes measured on dockerd 20.10.24 (a private engine's /events, API 1.41):
//   container create/start  Actor.ID = container id, Attributes.image = "local/a:1" (as named)
//   image import            Actor.ID = image id (preceded by an image tag event)
//   image tag               Actor.ID = image id, Attributes.name = "local/a:2"
//   image load              Actor.ID = image id (also when the image was already there)
//   image pull              Actor.ID = the reference pulled (moby distribution/pull.go)
//   docker build            classic builder and BuildKit alike: one image tag per -t
//   image untag/delete/save Actor.ID = image id; untag and save are not uses
// Pure: no I/O, no clock, no logging.
#include "model/image_use.hpp"

#include <algorithm>
#include <cctype>

namespace cdp {

namespace {

bool is_hex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c) && !std::isupper(c); });
}

// The part of a reference after the last '/', so "host:5000/app" is not read as tag "5000/app".
std::size_t name_start(std::string_view ref) {
  auto slash = ref.rfind('/');
  return slash == std::string_view::npos ? 0 : slash + 1;
}

// "repo:tag@sha256:x" -> {"repo:tag", "sha256:x"}; no '@' -> {ref, ""}.
std::pair<std::string, std::string> split_digest(std::string_view ref) {
  auto at = ref.find('@');
  if (at == std::string_view::npos) return {std::string(ref), ""};
  return {std::string(ref.substr(0, at)), std::string(ref.substr(at + 1))};
}

// "repo:tag" -> "repo"; "repo" -> "repo".
std::string repo_of(std::string_view name_tag) {
  auto colon = name_tag.rfind(':');
  if (colon != std::string_view::npos && colon >= name_start(name_tag)) return std::string(name_tag.substr(0, colon));
  return std::string(name_tag);
}

TimePoint later(TimePoint a, TimePoint b) { return a < b ? b : a; }

}  // namespace

std::string familiar_reference(std::string_view ref_in) {
  std::string ref(ref_in);
  if (ref.empty() || ref.starts_with("sha256:")) return ref;
  for (std::string_view prefix : {"docker.io/", "index.docker.io/", "registry-1.docker.io/"})
    if (ref.starts_with(prefix)) {
      ref.erase(0, prefix.size());
      break;
    }
  if (ref.starts_with("library/") && ref.find('/', 8) == std::string::npos) ref.erase(0, 8);
  auto [name, digest] = split_digest(ref);
  const bool has_tag = name.find(':', name_start(name)) != std::string::npos;
  if (!has_tag && digest.empty()) name += ":latest";
  return digest.empty() ? name : name + "@" + digest;
}

std::optional<std::string> resolve_image(std::string_view ref_in, const std::vector<ImageRecord>& images) {
  if (ref_in.empty()) return std::nullopt;
  // An id: full ("sha256:<hex>") or a prefix of at least 12 hex digits, as `docker run` takes.
  std::string_view hex = ref_in.starts_with("sha256:") ? ref_in.substr(7) : ref_in;
  if (is_hex(hex) && (hex.size() >= 12 || ref_in.starts_with("sha256:"))) {
    for (const auto& img : images)
      if (img.id.size() > 7 && std::string_view(img.id).substr(7).starts_with(hex)) return img.id;
  }
  const std::string ref = familiar_reference(ref_in);
  auto [name, digest] = split_digest(ref);
  if (!digest.empty()) {
    const std::string by_digest = repo_of(name) + "@" + digest;
    for (const auto& img : images)
      for (const auto& d : img.digests)
        if (familiar_reference(d) == by_digest) return img.id;
    // Docker pins a service to the digest; a tag that moved since must not stand in for it.
    return std::nullopt;
  }
  for (const auto& img : images)
    for (const auto& t : img.tags)
      if (familiar_reference(t) == name) return img.id;
  return std::nullopt;
}

bool ImageUse::apply(const ImageUseEvent& e, const std::vector<ImageRecord>& images) {
  if (e.type == "container") {
    if (e.action != "create" && e.action != "start") return false;
    auto it = e.attributes.find("image");
    if (it == e.attributes.end()) return false;
    auto id = resolve_image(it->second, images);
    if (!id) return false;
    note_use(*id, e.at);
    return true;
  }
  if (e.type != "image") return false;
  if (e.action == "delete") {
    last_use_.erase(e.actor_id);
    return false;
  }
  if (e.action != "pull" && e.action != "tag" && e.action != "load" && e.action != "import") return false;
  // pull names a reference; the others the image id. resolve_image takes both.
  auto id = resolve_image(e.actor_id, images);
  if (!id) return false;
  note_use(*id, e.at);
  return true;
}

void ImageUse::observe(const std::vector<ImageRecord>& images, TimePoint now) {
  std::map<std::string, TimePoint> kept;
  for (const auto& img : images) {
    auto it = last_use_.find(img.id);
    kept[img.id] = it != last_use_.end() ? it->second : now;  // first seen now, never its build date
  }
  last_use_ = std::move(kept);
}

void ImageUse::note_use(const std::string& id, TimePoint at) {
  auto [it, inserted] = last_use_.emplace(id, at);
  if (!inserted) it->second = later(it->second, at);
}

std::optional<TimePoint> ImageUse::last_use(const std::string& id) const {
  auto it = last_use_.find(id);
  if (it == last_use_.end()) return std::nullopt;
  return it->second;
}

nlohmann::json ImageUse::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [id, at] : last_use_)
    j[id] = std::chrono::duration_cast<std::chrono::microseconds>(at.time_since_epoch()).count();
  return j;
}

ImageUse ImageUse::from_json(const nlohmann::json& j, std::size_t* skipped) {
  ImageUse out;
  std::size_t bad = 0;
  if (!j.is_object()) {
    bad = 1;
  } else {
    for (const auto& [id, v] : j.items()) {
      // Up to the year 2100: far beyond any real use, well inside the nanosecond clock
      // (which ends in 2262); a larger number would overflow it.
      constexpr std::int64_t kMaxUs = 4102444800LL * 1000000;
      const bool ok = !id.empty() && v.is_number_integer() && !(v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxUs)) &&
                      v.get<std::int64_t>() >= 0 && v.get<std::int64_t>() <= kMaxUs;
      if (!ok) {
        ++bad;
        continue;
      }
      out.last_use_[id] = TimePoint{} + std::chrono::microseconds(v.get<std::int64_t>());
    }
  }
  if (skipped) *skipped = bad;
  return out;
}

}  // namespace cdp
